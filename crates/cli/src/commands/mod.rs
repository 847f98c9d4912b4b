//! One module per subcommand; each exposes `XxxArgs` (clap) and `run`.

pub mod api;
pub mod bench;
pub mod calibrate;
pub mod cohort;
pub mod compare;
pub mod embed;
pub mod eval;
pub mod flow;
pub mod fusion;
pub mod jobs;
pub mod serve;
pub mod spoof;
pub mod voiceprints;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar on stderr (hidden automatically when stderr is not a terminal).
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}
