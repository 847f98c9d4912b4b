//! `voiceprint spoof FILE...`: the spoofing countermeasure's risk score per file,
//! one JSON line each (both model scores included, so the same output feeds
//! calibration fitting in scripts/spoof/).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use rayon::prelude::*;
use voiceprint_antispoof::{SpoofDetector, DEFAULT_MAX_WINDOWS};

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct SpoofArgs {
    /// Audio files (WAV incl. G.711, FLAC, MP3); decoded and resampled to 16 kHz.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Folder holding `aasist/` (AASIST.conf, AASIST.pth) and `aasist-asvspoof5/`
    /// (AASIST_ASVspoof5.conf, AASIST-ASVspoof5.pth); see docs/SPOOFING.md.
    #[arg(
        long,
        value_name = "DIR",
        env = "VOICEPRINT_ANTISPOOF_MODELS_DIR",
        default_value = "models"
    )]
    pub models_dir: PathBuf,
    /// Most 4-s windows scored per file (spread evenly over it).
    #[arg(long, default_value_t = DEFAULT_MAX_WINDOWS)]
    pub max_windows: usize,
    /// Risk threshold: files scoring at or above it are marked high_risk.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub threshold: u8,
}

#[derive(serde::Serialize)]
struct SpoofLine {
    file: String,
    risk_score: u8,
    high_risk: bool,
    spoof_probability: f32,
    score_2019: f32,
    score_asvspoof5: f32,
    windows: usize,
    duration_seconds: f64,
}

pub fn run(args: SpoofArgs) -> Result<(), CliError> {
    let detector = SpoofDetector::load_dir(&args.models_dir)
        .map_err(|e| CliError::Failed(format!("loading the spoofing countermeasure: {e}")))?
        .with_max_windows(args.max_windows);
    let bar = super::progress(args.files.len() as u64, "scoring");
    let results: Vec<_> = args
        .files
        .par_iter()
        .map(|f| {
            let r = crate::model::load_samples(f).and_then(|samples| {
                let a = detector
                    .risk_score(&samples)
                    .map_err(|e| CliError::Failed(format!("{}: {e}", f.display())))?;
                Ok((a, samples.len() as f64 / 16_000.0))
            });
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (file, result) in args.files.iter().zip(results) {
        let (a, duration_seconds) = result?;
        let line = SpoofLine {
            file: file.display().to_string(),
            risk_score: a.risk_score,
            high_risk: a.is_high_risk(args.threshold),
            spoof_probability: a.spoof_probability,
            score_2019: a.score_2019,
            score_asvspoof5: a.score_asvspoof5,
            windows: a.windows,
            duration_seconds,
        };
        let json = serde_json::to_string(&line).map_err(|e| CliError::Failed(e.to_string()))?;
        writeln!(out, "{json}").map_err(|e| CliError::io("<stdout>", e))?;
    }
    Ok(())
}
