//! Trial lists (`enroll[,enroll...]<TAB>test[<TAB>label]`) and scoring them: each
//! distinct file is embedded once, in parallel; each distinct enrollment becomes one
//! voiceprint.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use voiceprint_engine::calibration::ScoreKind;
use voiceprint_engine::cohort::{Cohort, TrialCohort};
use voiceprint_engine::metrics::ScoreSet;
use voiceprint_engine::scorer::{Scorer, TrialScore};
use voiceprint_engine::scoring::{EnrollmentSample, Voiceprint};

use crate::error::CliError;
use crate::model::{EmbedOptions, EmbeddedFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Target,
    Nontarget,
    Spoof,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Target => "target",
            Label::Nontarget => "nontarget",
            Label::Spoof => "spoof",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Trial {
    /// The enrollment field as written (used as the voiceprint cache key and in outputs).
    pub enroll_field: String,
    pub test_field: String,
    pub enroll: Vec<PathBuf>,
    pub test: PathBuf,
    pub label: Option<Label>,
}

/// Reads a trial list; relative paths are relative to the list's folder. Blank lines
/// and lines starting with `#` are skipped.
pub fn read_trials(path: &Path) -> Result<Vec<Trial>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() { p.to_owned() } else { base.join(p) }
    };
    let mut trials = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| CliError::Trials { path: path.to_owned(), line: i + 1, message };
        let fields: Vec<&str> = line.split('\t').collect();
        if !(2..=3).contains(&fields.len()) {
            return Err(err(format!(
                "expected `enroll<TAB>test[<TAB>label]`, found {} tab-separated fields",
                fields.len()
            )));
        }
        let enroll: Vec<PathBuf> =
            fields[0].split(',').map(str::trim).filter(|s| !s.is_empty()).map(resolve).collect();
        if enroll.is_empty() || fields[1].trim().is_empty() {
            return Err(err("empty enrollment or test path".into()));
        }
        let label = match fields.get(2).map(|s| s.trim()) {
            None | Some("") => None,
            Some("target") => Some(Label::Target),
            Some("nontarget") => Some(Label::Nontarget),
            Some("spoof") => Some(Label::Spoof),
            Some(other) => {
                return Err(err(format!("unknown label {other:?} (expected target, nontarget or spoof)")))
            }
        };
        trials.push(Trial {
            enroll_field: fields[0].to_owned(),
            test_field: fields[1].trim().to_owned(),
            enroll,
            test: resolve(fields[1].trim()),
            label,
        });
    }
    if trials.is_empty() {
        return Err(CliError::Trials { path: path.to_owned(), line: 0, message: "no trials in file".into() });
    }
    Ok(trials)
}

/// Trials with their scores (`None` when a file of the trial failed to embed).
pub struct ScoredTrials {
    pub trials: Vec<Trial>,
    pub scores: Vec<Option<TrialScore>>,
    pub kind: ScoreKind,
    pub files: usize,
    pub failed_files: usize,
}

impl ScoredTrials {
    /// Target / non-target scores picked by `pick` (skipped and unlabelled trials left out).
    pub fn score_set_by(&self, pick: impl Fn(&TrialScore) -> f64) -> Result<ScoreSet, CliError> {
        let by = |label| self.scores_with(label, &pick);
        ScoreSet::new(by(Label::Target), by(Label::Nontarget))
            .map_err(|e| CliError::Failed(format!("cannot compute metrics: {e}")))
    }

    /// Target / non-target raw scores.
    pub fn score_set(&self) -> Result<ScoreSet, CliError> {
        self.score_set_by(|s| s.raw)
    }

    /// The scores picked by `pick` of the trials labelled `label` (skipped ones left out).
    pub fn scores_with(&self, label: Label, pick: &impl Fn(&TrialScore) -> f64) -> Vec<f64> {
        self.trials
            .iter()
            .zip(&self.scores)
            .filter(|(t, _)| t.label == Some(label))
            .filter_map(|(_, s)| s.as_ref().map(pick))
            .collect()
    }

    pub fn skipped(&self) -> usize {
        self.scores.iter().filter(|s| s.is_none()).count()
    }
}

/// Embeddings of files, keyed by path.
pub type Embedded = HashMap<PathBuf, EmbeddedFile>;

/// Embeds every distinct file of `lists` once, in parallel; files that fail are warned
/// about and left out.
pub fn embed_trial_files<'a>(lists: impl IntoIterator<Item = &'a [Trial]>, opts: &EmbedOptions) -> Result<Embedded, CliError> {
    let files: BTreeSet<&Path> = lists
        .into_iter()
        .flatten()
        .flat_map(|t| t.enroll.iter().map(PathBuf::as_path).chain([t.test.as_path()]))
        .collect();
    let files: Vec<&Path> = files.into_iter().collect();
    let bar = crate::commands::progress(files.len() as u64, "embedding");
    let embedded: Embedded = files
        .par_iter()
        .filter_map(|&f| {
            let r = opts.embed_file(f);
            bar.inc(1);
            match r {
                Ok(e) => Some((f.to_owned(), e)),
                Err(e) => {
                    tracing::warn!("skipping file: {e}");
                    None
                }
            }
        })
        .collect();
    bar.finish_and_clear();
    if embedded.is_empty() {
        return Err(CliError::Failed(format!("none of the {} files could be embedded", files.len())));
    }
    let failed = files.len() - embedded.len();
    if failed > 0 {
        eprintln!("warning: {failed} of {} files could not be embedded (see warnings); their trials are skipped", files.len());
    }
    Ok(embedded)
}

/// Embeds every distinct file once and scores every trial.
pub fn score_trials(trials: Vec<Trial>, opts: &EmbedOptions, scorer: &Scorer) -> Result<ScoredTrials, CliError> {
    let embedded = embed_trial_files([trials.as_slice()], opts)?;
    score_embedded(trials, &embedded, opts.model_id(), scorer, None)
}

/// Enrollments a list needs to be its own cohort under `domain`: its cohort size (always
/// set, `Scorer::for_domain_cohort` checks), plus the claimed and the test speaker left
/// out of every trial.
pub fn domain_list_minimum(domain: &Scorer) -> usize {
    domain.cohort_size().map_or(usize::MAX, |size| size + 2)
}

/// Scores trials whose files are already embedded, with `scorer` — or, when `domain` is
/// given and the list has enough enrollments (two more than the domain fusion's cohort
/// size), as a server domain with those speakers enrolled does: `domain` S-norms each
/// trial against the list's voiceprints less the claimed one. The test's own speaker (the enrollments of
/// its target trials) is left out too, so every impostor is a stranger to the domain:
/// the harder case, in which a fusion fitted here keeps its calibration (an enrolled
/// impostor only scores lower).
pub fn score_embedded(
    trials: Vec<Trial>,
    embedded: &Embedded,
    model: &str,
    scorer: &Scorer,
    domain: Option<&Scorer>,
) -> Result<ScoredTrials, CliError> {
    // One voiceprint per distinct enrollment, numbered in order of first appearance.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut voiceprints: Vec<Option<Voiceprint>> = Vec::new();
    let mut used: BTreeSet<&Path> = BTreeSet::new();
    for t in &trials {
        used.extend(t.enroll.iter().map(PathBuf::as_path).chain([t.test.as_path()]));
        index.entry(t.enroll_field.as_str()).or_insert_with(|| {
            let samples: Option<Vec<EnrollmentSample<'_>>> = t
                .enroll
                .iter()
                .map(|p| {
                    embedded.get(p).map(|e| EnrollmentSample {
                        embedding: &e.embedding,
                        net_speech_seconds: e.net_speech_seconds,
                    })
                })
                .collect();
            voiceprints.push(samples.and_then(|s| Voiceprint::enroll(model, &s).ok()));
            voiceprints.len() - 1
        });
    }
    // The domain cohort: every voiceprint, with each one's row (to leave the claimed
    // speaker out of its own trials).
    let mut rows: Vec<Option<usize>> = vec![None; voiceprints.len()];
    let mut enrolled: Vec<Vec<f32>> = Vec::new();
    for (row, vp) in rows.iter_mut().zip(&voiceprints) {
        if let Some(vp) = vp {
            *row = Some(enrolled.len());
            enrolled.push(vp.values().to_vec());
        }
    }
    let domain_cohort = match domain {
        Some(d) if enrolled.len() >= domain_list_minimum(d) => Some((d, Cohort::new(model, &enrolled)?)),
        _ => None,
    };
    // Cohort rows of each test file's own speaker.
    let mut own_rows: HashMap<&Path, Vec<usize>> = HashMap::new();
    for t in trials.iter().filter(|t| t.label == Some(Label::Target)) {
        if let Some(row) = rows[index[t.enroll_field.as_str()]] {
            own_rows.entry(t.test.as_path()).or_default().push(row);
        }
    }
    let mut scores = Vec::with_capacity(trials.len());
    for t in &trials {
        let i = index[t.enroll_field.as_str()];
        scores.push(match (&voiceprints[i], embedded.get(&t.test)) {
            (Some(vp), Some(test)) => Some(match &domain_cohort {
                Some((d, cohort)) => {
                    let mut exclude: Vec<usize> = rows[i].into_iter().collect();
                    exclude.extend(own_rows.get(t.test.as_path()).into_iter().flatten());
                    exclude.sort_unstable();
                    exclude.dedup();
                    let trial_cohort = TrialCohort { cohort, exclude: &exclude };
                    d.score_with(vp, &test.embedding, test.conditions(), Some(trial_cohort))?
                }
                None => scorer.score(vp, &test.embedding, test.conditions())?,
            }),
            _ => None,
        });
    }
    let failed_files = used.iter().filter(|p| !embedded.contains_key(**p)).count();
    let n_files = used.len();
    let kind = domain_cohort.as_ref().map_or(scorer.kind(), |(d, _)| d.kind());
    drop(index);
    drop(used);
    Ok(ScoredTrials { trials, scores, kind, files: n_files, failed_files })
}
