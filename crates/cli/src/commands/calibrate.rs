//! `voiceprint calibrate`: refits the raw → 0–100 map on development trial lists and
//! prints the constants to paste into `crates/engine/src/calibration.rs`.

use std::path::{Path, PathBuf};

use clap::Args;
use voiceprint_engine::calibration::{fit, FRAUD_RISK_THRESHOLD};
use voiceprint_engine::cohort::Cohort;
use voiceprint_engine::metrics::ScoreSet;
use voiceprint_engine::scorer::Scorer;

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};
use crate::trials::{read_trials, score_trials};

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Trial list scored on the wideband (16 kHz) channel; repeatable.
    #[arg(long, value_name = "FILE")]
    pub trials: Vec<PathBuf>,
    /// Trial list scored through the simulated 8 kHz μ-law telephone channel; repeatable.
    #[arg(long, value_name = "FILE")]
    pub telephone_trials: Vec<PathBuf>,
    /// Score file written by `voiceprint eval --scores` (label in column 3, raw score in
    /// column 4); repeatable. Must come from the same model and score kind.
    #[arg(long, value_name = "FILE")]
    pub scores: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Impostor cohort file: fit the S-norm calibration instead of the cosine one.
    #[arg(long, value_name = "FILE")]
    pub cohort: Option<PathBuf>,
}

pub fn run(args: CalibrateArgs) -> Result<(), CliError> {
    if args.trials.is_empty() && args.telephone_trials.is_empty() && args.scores.is_empty() {
        return Err(CliError::Usage("give at least one --trials, --telephone-trials or --scores".into()));
    }
    if args.model.model == crate::model::ModelChoice::Fusion {
        return Err(CliError::Usage("the fused system is calibrated per channel by `voiceprint fusion fit`".into()));
    }
    let cohort = args.cohort.as_deref().map(Cohort::load).transpose()?;
    let kind = if cohort.is_some() { "s-norm" } else { "cosine" };
    let mut names = Vec::new();
    let mut sets = Vec::new();
    for (paths, channel) in [(&args.trials, Channel::Wideband), (&args.telephone_trials, Channel::Telephone)] {
        if paths.is_empty() {
            continue;
        }
        let opts = args.model.load(channel)?;
        let scorer = Scorer::for_model(opts.model_id(), cohort.clone(), None)?;
        for path in paths {
            let scored = score_trials(read_trials(path)?, &opts, &scorer)?;
            names.push(format!("{} ({})", path.display(), format!("{channel:?}").to_lowercase()));
            sets.push(scored.score_set()?);
        }
    }
    for path in &args.scores {
        names.push(path.display().to_string());
        sets.push(read_score_file(path)?);
    }
    let report = fit(&sets)?;
    let c = report.calibration;
    let model = format!("{:?}", args.model.model).to_lowercase();
    println!("# {model}, {kind} scores: fitted on {} list(s)", sets.len());
    println!("{:<60} {:>8} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}", "list", "EER", "raw@EER", "raw@FAR1%", "FAR@90", "FRR@90", "FAR@50", "FRR@50");
    for ((name, set), l) in names.iter().zip(&sets).zip(&report.lists) {
        let p90 = set.at_threshold(c.raw_at_90);
        let p50 = set.at_threshold(c.raw_threshold(FRAUD_RISK_THRESHOLD)?);
        println!(
            "{:<60} {:>7.2}% {:>12.4} {:>12.4} {:>9.2}% {:>9.2}% {:>9.2}% {:>9.2}%",
            name,
            100.0 * l.eer,
            l.eer_threshold,
            l.far_threshold,
            100.0 * p90.far,
            100.0 * p90.frr,
            100.0 * p50.far,
            100.0 * p50.frr
        );
    }
    let konst = format!("{}_{}", model.to_uppercase(), if cohort.is_some() { "SNORM" } else { "COSINE" });
    println!("\n// (raw_at_50, raw_at_90)\nconst {konst}: (f64, f64) = ({:.4}, {:.4});", c.raw_at_50, c.raw_at_90);
    Ok(())
}

/// Reads target/non-target raw scores from an `eval --scores` file.
fn read_score_file(path: &Path) -> Result<ScoreSet, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    let (mut t, mut n) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |m: &str| CliError::Trials { path: path.to_owned(), line: i + 1, message: m.to_owned() };
        if f.len() < 4 {
            return Err(bad("expected enroll, test, label, raw[, score]"));
        }
        if f[3] == "NA" {
            continue;
        }
        let raw: f64 = f[3].parse().map_err(|_| bad("raw score is not a number"))?;
        match f[2] {
            "target" => t.push(raw),
            "nontarget" => n.push(raw),
            _ => {}
        }
    }
    ScoreSet::new(t, n).map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
}
