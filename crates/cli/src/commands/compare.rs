//! `voiceprint compare ENROLL... --test FILE`: calibrated score and decision.

use std::path::PathBuf;

use clap::Args;
use rayon::prelude::*;
use voiceprint_engine::calibration::AUTHENTICATION_THRESHOLD;
use voiceprint_engine::cohort::Cohort;
use voiceprint_engine::fusion::Fusion;
use voiceprint_engine::scorer::{Scorer, TrialScore};
use voiceprint_engine::scoring::{EnrollmentSample, Voiceprint};

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Enrollment recordings of one speaker (combined, weighted by net speech).
    #[arg(required = true, value_name = "ENROLL")]
    pub enroll: Vec<PathBuf>,
    /// Recording to verify.
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    /// Accept when the 0–100 score is at least this (90 = high security).
    #[arg(long, default_value_t = AUTHENTICATION_THRESHOLD)]
    pub threshold: f64,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Impostor cohort file (from `voiceprint cohort build`) to S-normalise the score.
    #[arg(long, value_name = "FILE")]
    pub cohort: Option<PathBuf>,
    /// Fusion file for `--model fusion` (default: the shipped one).
    #[arg(long, value_name = "FILE")]
    pub fusion: Option<PathBuf>,
    /// Channel applied to every file before embedding.
    #[arg(long, value_enum, default_value = "wideband")]
    pub channel: Channel,
}

#[derive(serde::Serialize)]
struct CompareResult<'a> {
    model: &'a str,
    score: f64,
    raw_score: f64,
    score_kind: String,
    threshold: f64,
    decision: &'static str,
    enroll_net_speech_seconds: f64,
    test_net_speech_seconds: f64,
}

pub fn run(args: CompareArgs) -> Result<(), CliError> {
    if !(args.threshold > 0.0 && args.threshold < 100.0) {
        return Err(CliError::Usage(format!("--threshold must be between 0 and 100, got {}", args.threshold)));
    }
    let opts = args.model.load(args.channel)?;
    let cohort = args.cohort.as_deref().map(Cohort::load).transpose()?;
    let mut files = args.enroll.clone();
    files.push(args.test.clone());
    let embedded = files.par_iter().map(|f| opts.embed_file(f)).collect::<Result<Vec<_>, _>>()?;
    let (test, enroll) = embedded.split_last().expect("at least two files");
    let samples: Vec<EnrollmentSample<'_>> = enroll
        .iter()
        .map(|e| EnrollmentSample { embedding: &e.embedding, net_speech_seconds: e.net_speech_seconds })
        .collect();
    let model = opts.model_id();
    let voiceprint = Voiceprint::enroll(model, &samples)?;
    let scorer = Scorer::for_model(model, cohort, args.fusion.as_deref().map(Fusion::load).transpose()?)?;
    let kind = scorer.kind();
    let TrialScore { raw, score, .. } = scorer.score(&voiceprint, &test.embedding, test.conditions())?;
    let decision = if score >= args.threshold { "ACCEPT" } else { "REJECT" };
    let result = CompareResult {
        model,
        score,
        raw_score: raw,
        score_kind: kind.to_string(),
        threshold: args.threshold,
        decision,
        enroll_net_speech_seconds: voiceprint.net_speech_seconds(),
        test_net_speech_seconds: test.net_speech_seconds,
    };
    println!("{}", serde_json::to_string(&result).map_err(|e| CliError::Failed(e.to_string()))?);
    eprintln!(
        "{decision}: score {score:.1} (threshold {:.0}, raw {kind} {raw:.4}, {model}; enrollment {:.1} s, test {:.1} s of speech)",
        args.threshold,
        voiceprint.net_speech_seconds(),
        test.net_speech_seconds
    );
    Ok(())
}
