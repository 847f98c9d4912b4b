//! `voiceprint fusion fit`: fits the fused system's weights (prior-weighted logistic
//! regression over both models' scores and the measured channel) and its per-channel
//! 0–100 calibration on development trial lists, and writes a fusion file
//! (`crates/engine/fusion-default.json` is one, see docs/CALIBRATION.md).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use voiceprint_engine::calibration::{
    fit, Calibration, ScoreKind, AUTHENTICATION_THRESHOLD, TARGET_FAR_AT_90,
};
use voiceprint_engine::cohort::Cohort;
use voiceprint_engine::fusion::{
    fit_logistic, linear_score, ChannelCondition, FitTrial, Fusion, PartScore, DOMAIN_COHORT_SIZE,
    FEATURE_NAMES,
};
use voiceprint_engine::metrics::ScoreSet;
use voiceprint_engine::scorer::Scorer;

use super::eval::pct;
use crate::error::CliError;
use crate::model::{Channel, EmbedOptions};
use crate::trials::{domain_list_minimum, embed_trial_files, read_trials, score_embedded, Label};

#[derive(Debug, Subcommand)]
pub enum FusionCommand {
    /// Fit weights and per-channel calibration on trial lists; write a fusion file.
    Fit(FitArgs),
}

/// Per-model score the fusion consumes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PartScoreArg {
    Cosine,
    SNorm,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Development trial list (repeat for every condition: wideband, telephone, cross-channel...).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "telephone_trials"
    )]
    pub trials: Vec<PathBuf>,
    /// Trial list whose files all go through the simulated 8 kHz μ-law channel first
    /// (as `voiceprint eval --channel telephone`); repeatable.
    #[arg(long, value_name = "FILE")]
    pub telephone_trials: Vec<PathBuf>,
    /// Output fusion file (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Folder with both models' weights (scripts/fetch-models.sh).
    #[arg(
        long,
        value_name = "DIR",
        env = "VOICEPRINT_MODELS_DIR",
        default_value = "models"
    )]
    pub models_dir: PathBuf,
    /// Fuse cosines or adaptive S-norms (needs --cohort, built with `--model fusion`).
    #[arg(long, value_enum, default_value = "cosine")]
    pub part_score: PartScoreArg,
    /// Impostor cohort file (fused embeddings) for `--part-score s-norm`.
    #[arg(long, value_name = "FILE", conflicts_with = "domain_cohort")]
    pub cohort: Option<PathBuf>,
    /// With `--part-score s-norm`: each list is its own cohort, as a server domain's
    /// enrolled speakers are (every trial S-normed against `--cohort-size` of the list's
    /// other voiceprints, the test's own speaker left out too); lists with too few
    /// enrollments are left out. Writes a domain fusion (`crates/engine/fusion-domain.json`
    /// is one).
    #[arg(long)]
    pub domain_cohort: bool,
    /// Cohort members per trial with `--domain-cohort`.
    #[arg(long, default_value_t = DOMAIN_COHORT_SIZE as u32, value_parser = clap::value_parser!(u32).range(2..))]
    pub cohort_size: u32,
    /// Closest cohort members per side in the S-norm statistics.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..))]
    pub top_n: u32,
    /// L2 penalty on the weights (not the bias).
    #[arg(long, default_value_t = 1e-3)]
    pub l2: f64,
}

pub fn run(cmd: FusionCommand) -> Result<(), CliError> {
    match cmd {
        FusionCommand::Fit(args) => fit_fusion(args),
    }
}

fn fit_fusion(args: FitArgs) -> Result<(), CliError> {
    let part_score = match args.part_score {
        PartScoreArg::Cosine => PartScore::Cosine,
        PartScoreArg::SNorm => PartScore::SNorm,
    };
    let embedder =
        voiceprint_engine::models::load_fused_embedder(&args.models_dir).map_err(|e| {
            CliError::Failed(format!(
                "loading the models from {}: {e}",
                args.models_dir.display()
            ))
        })?;
    let cohort = args.cohort.as_deref().map(Cohort::load).transpose()?;
    // Features of every trial (the shipped weights decide nothing here).
    let mut probe = Fusion::default_fusion();
    probe.part_score = part_score;
    probe.snorm_top_n = args.top_n as usize;
    probe.cohort_size = args.domain_cohort.then_some(args.cohort_size as usize);
    let (scorer, domain) = if args.domain_cohort {
        (Scorer::for_model(embedder.model_id(), None, None)?, Some(Scorer::for_domain_cohort(Some(probe.clone()))?))
    } else {
        (Scorer::for_model(embedder.model_id(), cohort, Some(probe.clone()))?, None)
    };
    let mut names = Vec::new();
    let mut scored_lists = Vec::new();
    for (paths, channel) in [
        (&args.trials, Channel::Wideband),
        (&args.telephone_trials, Channel::Telephone),
    ] {
        if paths.is_empty() {
            continue;
        }
        let opts = EmbedOptions {
            embedder: embedder.clone(),
            channel,
        };
        let lists = paths
            .iter()
            .map(|p| read_trials(p))
            .collect::<Result<Vec<_>, _>>()?;
        let embedded = embed_trial_files(lists.iter().map(Vec::as_slice), &opts)?;
        for (path, trials) in paths.iter().zip(lists) {
            let scored = score_embedded(trials, &embedded, opts.model_id(), &scorer, domain.as_ref())?;
            if domain.is_some() && scored.kind != ScoreKind::FusedSNorm {
                eprintln!(
                    "leaving out {}: fewer than {} enrollments to be its own cohort",
                    path.display(),
                    domain.as_ref().map_or(0, domain_list_minimum)
                );
                continue;
            }
            scored_lists.push(scored);
            let suffix = if channel == Channel::Telephone {
                " (simulated telephone channel)"
            } else {
                ""
            };
            names.push(format!("{}{suffix}", path.display()));
        }
    }
    let mut fit_trials = Vec::new();
    let mut list_conditions = Vec::new();
    for (index, scored) in scored_lists.into_iter().enumerate() {
        let mut counts = [0usize; 3];
        for (t, s) in scored.trials.iter().zip(&scored.scores) {
            let (Some(s), Some(label)) = (s, t.label) else {
                continue;
            };
            let features = s.fusion.expect("fused scorer");
            counts[features.condition() as usize] += 1;
            if label != Label::Spoof {
                fit_trials.push(FitTrial {
                    features,
                    target: label == Label::Target,
                    list: index,
                });
            }
        }
        // A list is calibrated with the condition most of its trials are in.
        let most = (0..3).max_by_key(|&i| counts[i]).unwrap_or(0);
        list_conditions.push(ChannelCondition::ALL[most]);
    }
    let weights = fit_logistic(&fit_trials, args.l2)?;
    let fused = |t: &FitTrial| linear_score(&weights, &t.features);
    let set_of = |index: usize, score: &dyn Fn(&FitTrial) -> f64| -> Result<ScoreSet, CliError> {
        let pick = |target: bool| {
            fit_trials
                .iter()
                .filter(|t| t.list == index && t.target == target)
                .map(score)
                .collect()
        };
        ScoreSet::new(pick(true), pick(false))
            .map_err(|e| CliError::Failed(format!("{}: {e}", names[index])))
    };
    let mut calibrations = Vec::new();
    for condition in ChannelCondition::ALL {
        let sets = (0..names.len())
            .filter(|&i| list_conditions[i] == condition)
            .map(|i| set_of(i, &fused))
            .collect::<Result<Vec<_>, _>>()?;
        if sets.is_empty() {
            return Err(CliError::Usage(format!(
                "no {} list given: the fusion is calibrated per channel condition (wideband, \
                 narrowband, cross-channel), give lists of each",
                condition.as_str()
            )));
        }
        calibrations.push(fit(&sets)?.calibration);
    }
    let mut fitted_on = names.clone();
    if domain.is_some() {
        fitted_on.push(format!(
            "domain cohort: {} of each list's voiceprints (not the claimed or the test speaker's), top {}",
            args.cohort_size, args.top_n
        ));
    }
    let calibrations = [calibrations[0], calibrations[1], calibrations[2]];
    let mut fusion = Fusion::new(part_score, weights, calibrations, fitted_on);
    fusion.snorm_top_n = probe.snorm_top_n;
    fusion.cohort_size = probe.cohort_size;
    std::fs::write(&args.out, fusion.to_json() + "\n").map_err(|e| CliError::io(&args.out, e))?;

    println!("weights ({:?} part scores, l2 {}):", part_score, args.l2);
    for (name, w) in FEATURE_NAMES.iter().zip(weights) {
        println!("  {name:<22} {w:>10.4}");
    }
    println!("| list | channel | campplus EER | ge2e EER | fused EER | fused FRR @ FAR 1 % | FAR @ 90 | FRR @ 90 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        let calibration: Calibration = fusion.calibration_for(list_conditions[i]);
        let (c, g, f) = (
            set_of(i, &|t| t.features.campplus)?,
            set_of(i, &|t| t.features.ge2e)?,
            set_of(i, &fused)?,
        );
        let p90 = f.at_threshold(calibration.raw_threshold(AUTHENTICATION_THRESHOLD)?);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            name,
            list_conditions[i].as_str(),
            pct(c.eer().eer),
            pct(g.eer().eer),
            pct(f.eer().eer),
            pct(f.at_far(TARGET_FAR_AT_90).frr),
            pct(p90.far),
            pct(p90.frr)
        );
    }
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
