//! `voiceprint fusion fit`: fits the fused system's weights (prior-weighted logistic
//! regression over both models' scores and the measured channel, then the test's net
//! speech; the noise shift on a grid for the lowest mean FRR at 90) and its per-channel
//! 0–100 calibration on development trial lists, and writes a fusion file
//! (`crates/engine/fusion-default.json` is one, see docs/CALIBRATION.md).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use voiceprint_engine::calibration::{
    fit, Calibration, ScoreKind, AUTHENTICATION_THRESHOLD, TARGET_FAR_AT_90,
};
use voiceprint_engine::cohort::Cohort;
use serde::{Deserialize, Serialize};
use voiceprint_engine::fusion::{
    choose_noise_shift, fit_two_stage, ChannelCondition, FitTrial, Fusion, FusionFeatures, FusionWeights, PartScore,
    SpeechConditions, CONDITION_FEATURE_NAMES, DOMAIN_COHORT_SIZE, FEATURE_NAMES,
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
    /// Development trial list of ordinary tests (repeat for every channel: wideband,
    /// telephone, cross-channel...): fits the channel weights, the speech-condition
    /// weights and the calibration.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["telephone_trials", "features"]
    )]
    pub trials: Vec<PathBuf>,
    /// Trial list of tests that differ from the `--trials` lists in net speech or noise
    /// (short, long, noisy tests): fits the speech-condition weights and the calibration
    /// only, so the models' balance on ordinary calls stays the `--trials` fit's.
    #[arg(long, value_name = "FILE")]
    pub condition_trials: Vec<PathBuf>,
    /// Write every trial's fusion inputs (scores, channels, net speech, SNR, STNR) here, to
    /// refit later with `--features` without embedding again.
    #[arg(long, value_name = "FILE")]
    pub save_features: Option<PathBuf>,
    /// Fit on fusion inputs saved by `--save-features` instead of trial lists.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trials", "telephone_trials", "condition_trials"])]
    pub features: Option<PathBuf>,
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
    /// Also fit a weight on duration × channel score, so a short test's score is rescaled
    /// as well as shifted. The shipped domain fusion (S-normed part scores) uses it; for
    /// cosine part scores it refused more calls at 90 (docs/CALIBRATION.md).
    #[arg(long)]
    pub duration_rescale: bool,
    /// L2 penalty on the weights (not the bias).
    #[arg(long, default_value_t = 1e-3)]
    pub l2: f64,
}

pub fn run(cmd: FusionCommand) -> Result<(), CliError> {
    match cmd {
        FusionCommand::Fit(args) => fit_fusion(args),
    }
}

/// Every development trial's fusion inputs, by list (`--save-features`, `--features`).
#[derive(Debug, Serialize, Deserialize)]
struct FeatureFile {
    part_score: PartScore,
    snorm_top_n: usize,
    cohort_size: Option<usize>,
    lists: Vec<FeatureList>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FeatureList {
    name: String,
    /// Fits the speech-condition weights only (`--condition-trials`).
    condition_only: bool,
    /// Per trial: target (1) or not (0), CAM++ and GE2E scores, enrollment and test
    /// narrowband degree, test net speech (s), test SNR (dB, VAD-split; recorded for
    /// analysis, the fusion does not weigh it, docs/CALIBRATION.md), test STNR (dB).
    trials: Vec<[f64; 8]>,
}

impl FeatureList {
    fn fit_trials(&self, list: usize) -> impl Iterator<Item = FitTrial> + '_ {
        self.trials.iter().map(move |&[target, campplus, ge2e, enroll_nb, test_nb, seconds, _snr, stnr]| FitTrial {
            features: FusionFeatures {
                campplus,
                ge2e,
                enroll_narrowband: enroll_nb,
                test_narrowband: test_nb,
                test_conditions: SpeechConditions { net_speech_seconds: seconds, stnr_db: Some(stnr) },
            },
            target: target == 1.0,
            list,
        })
    }
}

fn fit_fusion(args: FitArgs) -> Result<(), CliError> {
    let part_score = match args.part_score {
        PartScoreArg::Cosine => PartScore::Cosine,
        PartScoreArg::SNorm => PartScore::SNorm,
    };
    let file = match &args.features {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
            let file: FeatureFile = serde_json::from_str(&text)
                .map_err(|e| CliError::Failed(format!("{}: not a feature file: {e}", path.display())))?;
            if file.part_score != part_score {
                return Err(CliError::Usage(format!(
                    "{} holds {:?} part scores: give the same --part-score",
                    path.display(),
                    file.part_score
                )));
            }
            file
        }
        None => score_lists(&args, part_score)?,
    };
    if let Some(path) = &args.save_features {
        let json = serde_json::to_string(&file).expect("feature file serialises");
        std::fs::write(path, json).map_err(|e| CliError::io(path, e))?;
        eprintln!("wrote {}", path.display());
    }
    let names: Vec<String> = file.lists.iter().map(|l| l.name.clone()).collect();
    let fit_trials: Vec<FitTrial> =
        file.lists.iter().enumerate().flat_map(|(i, l)| l.fit_trials(i)).collect();
    // A list is calibrated with the condition most of its trials are in.
    let list_conditions: Vec<ChannelCondition> = (0..names.len())
        .map(|i| {
            let mut counts = [0usize; 3];
            for t in fit_trials.iter().filter(|t| t.list == i) {
                counts[t.features.condition() as usize] += 1;
            }
            ChannelCondition::ALL[(0..3).max_by_key(|&c| counts[c]).unwrap_or(0)]
        })
        .collect();
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
    // Every list's fused scores under `weights`, sorted once for both the anchors and
    // the FRR at 90 that judge them.
    let fused_sets = |weights: &FusionWeights| -> Result<Vec<ScoreSet>, CliError> {
        (0..names.len()).map(|i| set_of(i, &|t: &FitTrial| weights.score(&t.features))).collect()
    };
    // Each channel condition's anchors from its lists' fused scores.
    let calibrate = |sets: &[ScoreSet]| -> Result<[Calibration; 3], CliError> {
        let mut calibrations = Vec::new();
        for condition in ChannelCondition::ALL {
            let of_condition: Vec<ScoreSet> = (0..names.len())
                .filter(|&i| list_conditions[i] == condition)
                .map(|i| sets[i].clone())
                .collect();
            if of_condition.is_empty() {
                return Err(CliError::Usage(format!(
                    "no {} list given: the fusion is calibrated per channel condition (wideband, \
                     narrowband, cross-channel), give lists of each",
                    condition.as_str()
                )));
            }
            calibrations.push(fit(&of_condition)?.calibration);
        }
        Ok([calibrations[0], calibrations[1], calibrations[2]])
    };
    // The noise shift's objective: mean FRR at 90 over every list, anchors set anew.
    let mean_frr_at_90 = |weights: &FusionWeights| -> Result<f64, CliError> {
        let sets = fused_sets(weights)?;
        let calibrations = calibrate(&sets)?;
        let mut total = 0.0;
        for (set, condition) in sets.iter().zip(&list_conditions) {
            let raw_90 = calibrations[*condition as usize].raw_threshold(AUTHENTICATION_THRESHOLD)?;
            total += set.at_threshold(raw_90).frr;
        }
        Ok(total / names.len() as f64)
    };
    let weights = choose_noise_shift(
        fit_two_stage(&fit_trials, |list| !file.lists[list].condition_only, args.l2, args.duration_rescale)?,
        mean_frr_at_90,
    )?;
    let fused = fused_sets(&weights)?;
    let calibrations = calibrate(&fused)?;
    let mut fitted_on: Vec<String> = file
        .lists
        .iter()
        .map(|l| if l.condition_only { format!("{} (speech conditions)", l.name) } else { l.name.clone() })
        .collect();
    if let Some(size) = file.cohort_size {
        fitted_on.push(format!(
            "domain cohort: {size} of each list's voiceprints (not the claimed or the test speaker's), top {}",
            file.snorm_top_n
        ));
    }
    let mut fusion = Fusion::new(part_score, weights, calibrations, fitted_on);
    fusion.snorm_top_n = file.snorm_top_n;
    fusion.cohort_size = file.cohort_size;
    std::fs::write(&args.out, fusion.to_json() + "\n").map_err(|e| CliError::io(&args.out, e))?;

    println!("weights ({:?} part scores, l2 {}):", part_score, args.l2);
    for (name, w) in FEATURE_NAMES.iter().zip(weights.channel) {
        println!("  {name:<22} {w:>10.4}");
    }
    println!("speech-condition weights:");
    for (name, w) in CONDITION_FEATURE_NAMES.iter().zip(weights.conditions) {
        println!("  {name:<22} {w:>10.4}");
    }
    println!("| list | channel | campplus EER | ge2e EER | fused EER | fused FRR @ FAR 1 % | FAR @ 90 | FRR @ 90 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        let calibration: Calibration = fusion.calibration_for(list_conditions[i]);
        let (c, g, f) = (set_of(i, &|t| t.features.campplus)?, set_of(i, &|t| t.features.ge2e)?, &fused[i]);
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

/// Embeds and scores every list of `args` with a probe fusion of `part_score` (its
/// weights decide nothing: only the fusion's inputs are kept).
fn score_lists(args: &FitArgs, part_score: PartScore) -> Result<FeatureFile, CliError> {
    let embedder =
        voiceprint_engine::models::load_fused_embedder(&args.models_dir).map_err(|e| {
            CliError::Failed(format!(
                "loading the models from {}: {e}",
                args.models_dir.display()
            ))
        })?;
    let cohort = args.cohort.as_deref().map(Cohort::load).transpose()?;
    let mut probe = Fusion::default_fusion();
    probe.part_score = part_score;
    probe.snorm_top_n = args.top_n as usize;
    probe.cohort_size = args.domain_cohort.then_some(args.cohort_size as usize);
    let (scorer, domain) = if args.domain_cohort {
        (Scorer::for_model(embedder.model_id(), None, None)?, Some(Scorer::for_domain_cohort(Some(probe.clone()))?))
    } else {
        (Scorer::for_model(embedder.model_id(), cohort, Some(probe.clone()))?, None)
    };
    let mut lists = Vec::new();
    // Condition lists share their enrollments with the ordinary ones: embedded together.
    let wideband: Vec<(&PathBuf, bool)> = args
        .trials
        .iter()
        .map(|p| (p, false))
        .chain(args.condition_trials.iter().map(|p| (p, true)))
        .collect();
    let telephone: Vec<(&PathBuf, bool)> = args.telephone_trials.iter().map(|p| (p, false)).collect();
    for (paths, channel) in [(wideband, Channel::Wideband), (telephone, Channel::Telephone)] {
        if paths.is_empty() {
            continue;
        }
        let opts = EmbedOptions { embedder: embedder.clone(), channel };
        let trial_lists = paths.iter().map(|(p, _)| read_trials(p)).collect::<Result<Vec<_>, _>>()?;
        let embedded = embed_trial_files(trial_lists.iter().map(Vec::as_slice), &opts)?;
        for ((path, condition_only), trials) in paths.into_iter().zip(trial_lists) {
            let scored = score_embedded(trials, &embedded, opts.model_id(), &scorer, domain.as_ref())?;
            if domain.is_some() && scored.kind != ScoreKind::FusedSNorm {
                eprintln!(
                    "leaving out {}: fewer than {} enrollments to be its own cohort",
                    path.display(),
                    domain.as_ref().map_or(0, domain_list_minimum)
                );
                continue;
            }
            let suffix = if channel == Channel::Telephone { " (simulated telephone channel)" } else { "" };
            let trials = scored
                .trials
                .iter()
                .zip(&scored.scores)
                .filter_map(|(t, s)| match (s, t.label) {
                    (Some(s), Some(label)) if label != Label::Spoof => {
                        let f = s.fusion.expect("fused scorer");
                        let c = f.test_conditions;
                        // Scored, so embedded.
                        let (snr_db, stnr_db) =
                            embedded.get(&t.test).map_or((f64::NAN, f64::NAN), |e| (e.snr_db, e.stnr_db));
                        Some([
                            f64::from(u8::from(label == Label::Target)),
                            f.campplus,
                            f.ge2e,
                            f.enroll_narrowband,
                            f.test_narrowband,
                            c.net_speech_seconds,
                            snr_db,
                            stnr_db,
                        ])
                    }
                    _ => None,
                })
                .collect();
            lists.push(FeatureList { name: format!("{}{suffix}", path.display()), condition_only, trials });
        }
    }
    Ok(FeatureFile {
        part_score,
        snorm_top_n: probe.snorm_top_n,
        cohort_size: probe.cohort_size,
        lists,
    })
}
