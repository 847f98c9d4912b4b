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
    /// Also run the spoofing countermeasure (models from this folder, see docs/SPOOFING.md) on
    /// every target and spoof trial's test file, and report acceptance with it.
    #[arg(long, value_name = "DIR")]
    pub antispoof_models_dir: Option<PathBuf>,
    /// Risk threshold of the countermeasure: a test file at or above it is refused.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub spoof_risk_threshold: u8,
}

/// Acceptance at score 90 once the countermeasure refuses high-risk test files.
#[derive(Debug, serde::Serialize)]
pub struct CountermeasureSummary {
    pub risk_threshold: u8,
    pub spoof_accepted_at_90_without: Option<f64>,
    pub spoof_accepted_at_90_with: Option<f64>,
    /// Target trials accepted at 90 by the speaker model but refused by the countermeasure.
    pub target_refused_by_countermeasure: Option<f64>,
}

/// Scores each distinct target/spoof test file once and combines that with the speaker scores.
fn countermeasure(args: &EvalArgs, dir: &std::path::Path, scored: &ScoredTrials, raw90: f64) -> Result<CountermeasureSummary, CliError> {
    use rayon::prelude::*;
    let detector = voiceprint_antispoof::SpoofDetector::load_dir(dir)
        .map_err(|e| CliError::Failed(format!("loading the spoofing countermeasure: {e}")))?;
    let wanted = |t: &crate::trials::Trial| matches!(t.label, Some(Label::Spoof | Label::Target));
    let mut files: Vec<&PathBuf> = scored.trials.iter().filter(|t| wanted(t)).map(|t| &t.test).collect();
    files.sort();
    files.dedup();
    let bar = super::progress(files.len() as u64, "countermeasure");
    let risky: std::collections::HashMap<&PathBuf, bool> = files
        .par_iter()
        .map(|f| {
            let r = crate::model::load_samples(f).ok().and_then(|x| detector.risk_score(&x).ok());
            bar.inc(1);
            // A file the countermeasure cannot score is not refused by it.
            (*f, r.is_some_and(|a| a.is_high_risk(args.spoof_risk_threshold)))
        })
        .collect();
    bar.finish_and_clear();
    let share = |label: Label, with_cm: bool, refused: bool| {
        let accepted: Vec<bool> = scored
            .trials
            .iter()
            .zip(&scored.raw)
            .filter(|(t, r)| t.label == Some(label) && r.is_some())
            .map(|(t, r)| {
                let sv = r.is_some_and(|r| r >= raw90);
                let flagged = risky.get(&t.test).copied().unwrap_or(false);
                if refused { sv && flagged } else { sv && !(with_cm && flagged) }
            })
            .collect();
        (!accepted.is_empty()).then(|| accepted.iter().filter(|&&a| a).count() as f64 / accepted.len() as f64)
    };
    Ok(CountermeasureSummary {
        risk_threshold: args.spoof_risk_threshold,
        spoof_accepted_at_90_without: share(Label::Spoof, false, false),
        spoof_accepted_at_90_with: share(Label::Spoof, true, false),
        target_refused_by_countermeasure: share(Label::Target, true, true),
    })
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub countermeasure: Option<CountermeasureSummary>,
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
        countermeasure: None,
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
    let mut summary = summarise(&scored, &calibration, model, args.channel)?;
    if let Some(dir) = &args.antispoof_models_dir {
        let raw90 = calibration.raw_threshold(AUTHENTICATION_THRESHOLD)?;
        summary.countermeasure = Some(countermeasure(&args, dir, &scored, raw90)?);
    }
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
    if let Some(c) = &s.countermeasure {
        let opt = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), pct);
        println!(
            "countermeasure   risk ≥ {} refused: spoof accepted @ 90 {} without, {} with; target refused {}",
            c.risk_threshold,
            opt(c.spoof_accepted_at_90_without),
            opt(c.spoof_accepted_at_90_with),
            opt(c.target_refused_by_countermeasure)
        );
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
