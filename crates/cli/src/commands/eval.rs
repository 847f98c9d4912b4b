//! `voiceprint eval --trials trials.tsv`: error rates of a trial list.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use voiceprint_engine::calibration::{ScoreKind, AUTHENTICATION_THRESHOLD, FRAUD_RISK_THRESHOLD, TARGET_FAR_AT_90};
use voiceprint_engine::cohort::Cohort;
use voiceprint_engine::fusion::{Fusion, FUSED_MODEL_ID};
use voiceprint_engine::metrics::DcfParams;
use voiceprint_engine::scorer::Scorer;

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};
use crate::trials::{embed_trial_files, read_trials, score_embedded, Label, ScoredTrials};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Trial list: `enroll[,enroll...]<TAB>test[<TAB>target|nontarget|spoof]` per line;
    /// relative paths are relative to the list's folder.
    /// Repeat to evaluate several lists (one summary each, then a table).
    #[arg(long, value_name = "FILE", required = true)]
    pub trials: Vec<PathBuf>,
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
    /// Impostor cohort file to S-normalise scores (for `--model fusion`: only used when the
    /// fusion was fitted on S-norm scores).
    #[arg(long, value_name = "FILE")]
    pub cohort: Option<PathBuf>,
    /// Fusion file written by `voiceprint fusion fit` (for `--model fusion`; default: the
    /// fusion shipped with the engine).
    #[arg(long, value_name = "FILE")]
    pub fusion: Option<PathBuf>,
    /// Score each list as a server domain with the list's enrollments enrolled does: a
    /// list with at least 57 distinct enrollments S-normalises every trial against 55 of
    /// its other voiceprints (never the claimed or the test speaker's) with the domain
    /// fusion (`--model fusion` only; smaller lists keep the plain fusion).
    #[arg(long)]
    pub domain_cohort: bool,
    /// Domain fusion file (`voiceprint fusion fit --part-score s-norm --domain-cohort`) for
    /// `--domain-cohort`; default: the one shipped with the engine.
    #[arg(long, value_name = "FILE", requires = "domain_cohort")]
    pub domain_fusion: Option<PathBuf>,
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
fn countermeasure(args: &EvalArgs, dir: &std::path::Path, scored: &ScoredTrials) -> Result<CountermeasureSummary, CliError> {
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
            .zip(&scored.scores)
            .filter(|(t, r)| t.label == Some(label) && r.is_some())
            .map(|(t, r)| {
                let sv = r.is_some_and(|r| r.score >= AUTHENTICATION_THRESHOLD);
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

/// EER and FRR at FAR 1 % of one model inside the fused system.
#[derive(Debug, serde::Serialize)]
pub struct PartSummary {
    pub model: String,
    pub eer: f64,
    pub frr_at_far_1pct: f64,
}

/// Summary of one evaluation (also the `--json` output).
#[derive(Debug, serde::Serialize)]
pub struct EvalSummary {
    pub trials_file: String,
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
    /// For the fused system: each model's own numbers on the same trials (S-normed with
    /// a domain cohort).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub countermeasure: Option<CountermeasureSummary>,
}

/// Error rates of scored trials; FAR/FRR at 90 and 50 on the calibrated scores (so a
/// per-channel calibration is measured as calls get it).
pub fn summarise(scored: &ScoredTrials, trials_file: &std::path::Path, model: &str, channel: Channel) -> Result<EvalSummary, CliError> {
    let set = scored.score_set()?;
    let eer = set.eer();
    let calibrated = scored.score_set_by(|s| s.score)?;
    let (p90, p50) = (calibrated.at_threshold(AUTHENTICATION_THRESHOLD), calibrated.at_threshold(FRAUD_RISK_THRESHOLD));
    let spoof = scored.scores_with(Label::Spoof, &|s| s.score);
    let spoof_accepted_at_90 = (!spoof.is_empty())
        .then(|| spoof.iter().filter(|&&s| s >= AUTHENTICATION_THRESHOLD).count() as f64 / spoof.len() as f64);
    let mut parts = Vec::new();
    if matches!(scored.kind, ScoreKind::Fused | ScoreKind::FusedSNorm) {
        // The fused scorer fills `fusion` on every trial it scores.
        let campplus = scored.score_set_by(|s| s.fusion.map_or(f64::NAN, |f| f.campplus))?;
        let ge2e = scored.score_set_by(|s| s.fusion.map_or(f64::NAN, |f| f.ge2e))?;
        for (name, part) in [("campplus", campplus), ("ge2e", ge2e)] {
            parts.push(PartSummary { model: name.into(), eer: part.eer().eer, frr_at_far_1pct: part.at_far(TARGET_FAR_AT_90).frr });
        }
    }
    Ok(EvalSummary {
        trials_file: trials_file.display().to_string(),
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
        parts,
        countermeasure: None,
    })
}

pub fn run(args: EvalArgs) -> Result<(), CliError> {
    let lists = args.trials.iter().map(|p| read_trials(p)).collect::<Result<Vec<_>, _>>()?;
    let opts = args.model.load(args.channel)?;
    let cohort = args.cohort.as_deref().map(Cohort::load).transpose()?;
    let fusion = args.fusion.as_deref().map(Fusion::load).transpose()?;
    let model = opts.model_id();
    let scorer = Scorer::for_model(model, cohort, fusion)?;
    let domain = if args.domain_cohort {
        if model != FUSED_MODEL_ID {
            return Err(CliError::Usage("--domain-cohort needs --model fusion".into()));
        }
        Some(Scorer::for_domain_cohort(args.domain_fusion.as_deref().map(Fusion::load).transpose()?)?)
    } else {
        None
    };
    let embedded = embed_trial_files(lists.iter().map(Vec::as_slice), &opts)?;
    let mut summaries = Vec::new();
    let mut sets = Vec::new();
    let mut all_scored = Vec::new();
    for (path, trials) in args.trials.iter().zip(lists) {
        let scored = score_embedded(trials, &embedded, model, &scorer, domain.as_ref())?;
        let mut summary = summarise(&scored, path, model, args.channel)?;
        if let Some(dir) = &args.antispoof_models_dir {
            summary.countermeasure = Some(countermeasure(&args, dir, &scored)?);
        }
        sets.push((format!("{} — {} ({}, {})", path.display(), model, summary.channel, summary.score_kind), scored.score_set()?));
        summaries.push(summary);
        all_scored.push(scored);
    }
    if let Some(path) = &args.scores {
        write_scores(path, &all_scored)?;
    }
    if let Some(path) = &args.det {
        let curves: Vec<(&str, &voiceprint_engine::metrics::ScoreSet)> = sets.iter().map(|(t, s)| (t.as_str(), s)).collect();
        crate::plot::write_det_png(path, &curves)?;
    }
    if args.json {
        let out = if summaries.len() == 1 { serde_json::to_string_pretty(&summaries[0]) } else { serde_json::to_string_pretty(&summaries) };
        println!("{}", out.map_err(|e| CliError::Failed(e.to_string()))?);
    } else {
        for s in &summaries {
            print_summary(s);
            println!();
        }
        print_table(&summaries);
    }
    Ok(())
}

/// One row per list and system: the per-condition report.
fn print_table(summaries: &[EvalSummary]) {
    println!("| list | system | EER | FRR @ FAR 1 % | FAR @ 90 | FRR @ 90 |");
    println!("|---|---|---|---|---|---|");
    for s in summaries {
        for p in &s.parts {
            println!("| {} | {} | {} | {} | — | — |", s.trials_file, p.model, pct(p.eer), pct(p.frr_at_far_1pct));
        }
        println!(
            "| {} | {} ({}) | {} | {} | {} | {} |",
            s.trials_file, s.model, s.score_kind, pct(s.eer), pct(s.frr_at_far_1pct), pct(s.far_at_90), pct(s.frr_at_90)
        );
    }
}

/// A share as a percentage with two decimals (`0.0123` → `1.23 %`).
pub(crate) fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

fn print_summary(s: &EvalSummary) {
    println!("list             {}", s.trials_file);
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
    for p in &s.parts {
        println!("  {:<14} EER {}  FRR @ FAR 1 % {}", p.model, pct(p.eer), pct(p.frr_at_far_1pct));
    }
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

fn write_scores(path: &std::path::Path, lists: &[ScoredTrials]) -> Result<(), CliError> {
    let file = std::fs::File::create(path).map_err(|e| CliError::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e| CliError::io(path, e);
    let kind = lists.first().map_or(ScoreKind::Cosine, |l| l.kind);
    writeln!(w, "# enroll\ttest\tlabel\traw_{kind}\tscore").map_err(io)?;
    for scored in lists {
        for (t, s) in scored.trials.iter().zip(&scored.scores) {
            let label = t.label.map_or("-", Label::as_str);
            match s {
                Some(s) => writeln!(w, "{}\t{}\t{}\t{:.6}\t{:.2}", t.enroll_field, t.test_field, label, s.raw, s.score),
                None => writeln!(w, "{}\t{}\t{}\tNA\tNA", t.enroll_field, t.test_field, label),
            }
            .map_err(io)?;
        }
    }
    w.flush().map_err(io)
}
