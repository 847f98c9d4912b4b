//! `voiceprint eval --trials trials.tsv`: error rates of a trial list.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use voiceprint_engine::calibration::{Calibration, AUTHENTICATION_THRESHOLD, FRAUD_RISK_THRESHOLD, TARGET_FAR_AT_90};
use voiceprint_engine::cohort::Cohort;
use voiceprint_engine::metrics::DcfParams;

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};
use crate::trials::{read_trials, score_trials, Label, ScoredTrials};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Trial list: `enroll[,enroll...]<TAB>test[<TAB>target|nontarget|spoof]` per line;
    /// relative paths are relative to the list's folder.
    #[arg(long, value_name = "FILE")]
    pub trials: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Write every trial's scores here (TSV: enroll, test, label, raw, score).
    #[arg(long, value_name = "FILE")]
    pub scores: Option<PathBuf>,
    /// Write a DET curve PNG here.
    #[arg(long, value_name = "FILE")]
    pub det: Option<PathBuf>,
    /// Channel applied to every file before embedding.
    #[arg(long, value_enum, default_value = "wideband")]
    pub channel: Channel,
    /// Impostor cohort file to S-normalise scores.
    #[arg(long, value_name = "FILE")]
    pub cohort: Option<PathBuf>,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Summary of one evaluation (also the `--json` output).
#[derive(Debug, serde::Serialize)]
pub struct EvalSummary {
    pub model: String,
    pub channel: String,
    pub score_kind: String,
    pub files: usize,
    pub failed_files: usize,
    pub trials: usize,
    pub skipped_trials: usize,
    pub target_trials: usize,
    pub nontarget_trials: usize,
    pub spoof_trials: usize,
    pub eer: f64,
    pub eer_raw_threshold: f64,
    pub min_dcf: f64,
    pub frr_at_far_1pct: f64,
    pub far_at_90: f64,
    pub frr_at_90: f64,
    pub far_at_50: f64,
    pub frr_at_50: f64,
    pub spoof_accepted_at_90: Option<f64>,
}

pub fn summarise(scored: &ScoredTrials, calibration: &Calibration, model: &str, channel: Channel) -> Result<EvalSummary, CliError> {
    let set = scored.score_set()?;
    let eer = set.eer();
    let raw90 = calibration.raw_threshold(AUTHENTICATION_THRESHOLD)?;
    let raw50 = calibration.raw_threshold(FRAUD_RISK_THRESHOLD)?;
    let (p90, p50) = (set.at_threshold(raw90), set.at_threshold(raw50));
    let spoof = scored.scores_with(Label::Spoof);
    let spoof_accepted_at_90 = (!spoof.is_empty())
        .then(|| spoof.iter().filter(|&&s| s >= raw90).count() as f64 / spoof.len() as f64);
    Ok(EvalSummary {
        model: model.to_owned(),
        channel: format!("{channel:?}").to_lowercase(),
        score_kind: scored.kind.to_string(),
        files: scored.files,
        failed_files: scored.failed_files,
        trials: scored.trials.len(),
        skipped_trials: scored.skipped(),
        target_trials: set.target().len(),
        nontarget_trials: set.nontarget().len(),
        spoof_trials: spoof.len(),
        eer: eer.eer,
        eer_raw_threshold: eer.threshold,
        min_dcf: set.min_dcf(DcfParams::default()).min_dcf,
        frr_at_far_1pct: set.at_far(TARGET_FAR_AT_90).frr,
        far_at_90: p90.far,
        frr_at_90: p90.frr,
        far_at_50: p50.far,
        frr_at_50: p50.frr,
        spoof_accepted_at_90,
    })
}

pub fn run(args: EvalArgs) -> Result<(), CliError> {
    let trials = read_trials(&args.trials)?;
    let opts = args.model.load(args.channel)?;
    let cohort = args.cohort.as_deref().map(Cohort::load).transpose()?;
    let scored = score_trials(trials, &opts, cohort.as_ref())?;
    let model = opts.model_id();
    let calibration = Calibration::for_model(model, scored.kind)
        .ok_or_else(|| CliError::Failed(format!("no calibration for model {model}")))?;

    if let Some(path) = &args.scores {
        write_scores(path, &scored, &calibration)?;
    }
    let summary = summarise(&scored, &calibration, model, args.channel)?;
    if let Some(path) = &args.det {
        let set = scored.score_set()?;
        let title = format!("{} — {} ({}, {})", args.trials.display(), model, summary.channel, summary.score_kind);
        crate::plot::write_det_png(path, &[(title.as_str(), &set)])?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| CliError::Failed(e.to_string()))?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

fn print_summary(s: &EvalSummary) {
    println!("model            {} ({} scores, {} channel)", s.model, s.score_kind, s.channel);
    println!(
        "trials           {} ({} target, {} nontarget, {} spoof, {} skipped)",
        s.trials, s.target_trials, s.nontarget_trials, s.spoof_trials, s.skipped_trials
    );
    println!("files            {} ({} failed to embed)", s.files, s.failed_files);
    println!("EER              {}  (raw threshold {:.4})", pct(s.eer), s.eer_raw_threshold);
    println!("minDCF(0.01)     {:.4}", s.min_dcf);
    println!("FRR @ FAR 1 %    {}", pct(s.frr_at_far_1pct));
    println!("at score 90      FAR {}  FRR {}", pct(s.far_at_90), pct(s.frr_at_90));
    println!("at score 50      FAR {}  FRR {}", pct(s.far_at_50), pct(s.frr_at_50));
    match s.spoof_accepted_at_90 {
        Some(x) => println!("spoof accepted @ 90  {}", pct(x)),
        None => println!("spoof accepted @ 90  n/a (no spoof trials)"),
    }
}

fn write_scores(path: &std::path::Path, scored: &ScoredTrials, calibration: &Calibration) -> Result<(), CliError> {
    let file = std::fs::File::create(path).map_err(|e| CliError::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e| CliError::io(path, e);
    writeln!(w, "# enroll\ttest\tlabel\traw_{}\tscore", scored.kind).map_err(io)?;
    for (t, raw) in scored.trials.iter().zip(&scored.raw) {
        let label = t.label.map_or("-", Label::as_str);
        match raw {
            Some(r) => writeln!(w, "{}\t{}\t{}\t{:.6}\t{:.2}", t.enroll_field, t.test_field, label, r, calibration.score(*r)),
            None => writeln!(w, "{}\t{}\t{}\tNA\tNA", t.enroll_field, t.test_field, label),
        }
        .map_err(io)?;
    }
    w.flush().map_err(io)
}
