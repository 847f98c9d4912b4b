//! [`Biometrics`]: the speaker model on its own threads, behind one small API.
//!
//! Sessions, batch jobs and the CLI all turn audio into embeddings and embeddings
//! into 0–100 scores through this type, so the model, its calibration and the
//! number of inference threads are decided in one place.
//!
//! Key decision (the text-embeddings-inference pattern): inference runs on a fixed
//! set of engine threads fed by a queue. Any number of callers (HTTP handlers,
//! WebSocket sessions, job workers) may call [`Biometrics::embed`] at once; at most
//! `workers` embeddings run together, so a burst of calls queues instead of
//! oversubscribing the cores, and a slow model never blocks the async runtime
//! (callers block on a reply channel from `spawn_blocking` or a worker thread).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use voiceprint_audio::{AudioError, DecodeOptions};
use voiceprint_engine::cohort::TrialCohort;
use voiceprint_engine::fusion::{Fusion, SpeechConditions};
use voiceprint_engine::scorer::Scorer;
use voiceprint_engine::scoring::{EnrollmentSample, Voiceprint};
use voiceprint_engine::{Embedder, EngineError};

use crate::error::{Error, Result};

/// One recording's (or segment's) embedding with the speech it was computed from.
#[derive(Clone)]
pub struct SpeechEmbedding {
    pub embedding: Vec<f32>,
    pub net_speech_seconds: f64,
}

// Embeddings are biometric data: never print their values.
impl std::fmt::Debug for SpeechEmbedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechEmbedding")
            .field("dim", &self.embedding.len())
            .field("net_speech_seconds", &self.net_speech_seconds)
            .finish()
    }
}

type EmbedReply = SyncSender<std::result::Result<Vec<f32>, EngineError>>;

struct EmbedJob {
    speech_16k: Vec<f32>,
    /// [`Embedder::embed_for_consistency`] instead of the full embedding.
    for_consistency: bool,
    reply: EmbedReply,
}

/// How the fused system scores (`[engine]` in the server's config).
#[derive(Debug, Clone)]
pub struct ScoringOptions {
    /// Replaces the shipped fusion (cosine part scores).
    pub fusion_file: Option<PathBuf>,
    /// Once a domain has enough enrolled speakers, S-normalise authentication scores
    /// against them (`crate::service` keeps each domain's cohort).
    pub domain_cohort: bool,
    /// Replaces the shipped domain fusion (S-normed part scores).
    pub domain_fusion_file: Option<PathBuf>,
}

impl Default for ScoringOptions {
    fn default() -> Self {
        Self {
            fusion_file: None,
            domain_cohort: true,
            domain_fusion_file: None,
        }
    }
}

/// The speaker model, its calibration and its engine threads.
pub struct Biometrics {
    model_id: String,
    dim: usize,
    scorer: Scorer,
    /// Scores against a domain's own cohort (fused model with `domain_cohort` only).
    domain_scorer: Option<Scorer>,
    queue: SyncSender<EmbedJob>,
    workers: usize,
}

impl std::fmt::Debug for Biometrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Biometrics")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("workers", &self.workers)
            .finish()
    }
}

/// Engine threads to start for `requested` (0 = one per available core).
fn worker_count(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

impl Biometrics {
    /// Starts `workers` engine threads (0 = available cores) running `embedder`,
    /// scoring with the model's shipped calibration (or, for the fused system, its
    /// shipped fusion). The threads end when the last clone of the returned value's
    /// queue is dropped.
    pub fn new(embedder: Arc<dyn Embedder>, workers: usize) -> Result<Self> {
        Self::with_scoring(embedder, &ScoringOptions::default(), workers)
    }

    /// [`Biometrics::new`] scoring as `options` say.
    pub fn with_scoring(embedder: Arc<dyn Embedder>, options: &ScoringOptions, workers: usize) -> Result<Self> {
        let scoring_error = |e| Error::Internal(format!("speaker model scoring: {e}"));
        let load = |file: &Option<PathBuf>| -> Result<Option<Fusion>> {
            file.as_deref()
                .map(Fusion::load)
                .transpose()
                .map_err(|e| Error::Internal(format!("fusion file: {e}")))
        };
        let scorer = Scorer::for_model(embedder.model_id(), None, load(&options.fusion_file)?)
            .map_err(scoring_error)?;
        let domain_scorer = if options.domain_cohort && matches!(scorer, Scorer::Fused { .. }) {
            Some(Scorer::for_domain_cohort(load(&options.domain_fusion_file)?).map_err(scoring_error)?)
        } else {
            None
        };
        let workers = worker_count(workers);
        let model_id = embedder.model_id().to_owned();
        // A short queue: enough to keep every worker busy, small enough that a flood
        // of callers waits in their own threads rather than in an unbounded buffer.
        let (queue, jobs) = mpsc::sync_channel::<EmbedJob>(workers * 4);
        let jobs = Arc::new(Mutex::new(jobs));
        for index in 0..workers {
            let embedder = Arc::clone(&embedder);
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("engine-{index}"))
                .spawn(move || engine_thread(&*embedder, &jobs))
                .map_err(|e| Error::Internal(format!("cannot start engine thread: {e}")))?;
        }
        Ok(Biometrics {
            dim: embedder.dim(),
            model_id,
            scorer,
            domain_scorer,
            queue,
            workers,
        })
    }

    /// Loads `model_name` (`"fusion"`, `"campplus"` or `"ge2e"`) from `models_dir`,
    /// laid out as `scripts/fetch-models.sh` writes it.
    pub fn load(models_dir: &Path, model_name: &str, workers: usize) -> Result<Self> {
        Self::load_with_scoring(models_dir, model_name, &ScoringOptions::default(), workers)
    }

    /// [`Biometrics::load`] scoring as `options` say (fusion files from `voiceprint
    /// fusion fit`, the domain cohort).
    pub fn load_with_scoring(
        models_dir: &Path,
        model_name: &str,
        options: &ScoringOptions,
        workers: usize,
    ) -> Result<Self> {
        let embedder = voiceprint_engine::models::load_embedder_by_name(model_name, models_dir)
            .map_err(|e| Error::Internal(format!("speaker model not loaded: {e}")))?;
        Self::with_scoring(embedder, options, workers)
    }

    /// The model id stored with every voiceprint (e.g. `"campplus"`).
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Embedding dimension of the model.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of engine threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Embeds 16 kHz speech-only samples on the engine threads; blocks until done.
    pub fn embed(&self, speech_16k: Vec<f32>) -> Result<Vec<f32>> {
        self.run_job(speech_16k, false)
    }

    /// The embedding the multiple-voices check compares across a recording's chunks
    /// (for the fused model, its CAM++ part alone: a third of the cost); on the engine
    /// threads, blocking until done.
    pub fn embed_for_consistency(&self, speech_16k: Vec<f32>) -> Result<Vec<f32>> {
        self.run_job(speech_16k, true)
    }

    fn run_job(&self, speech_16k: Vec<f32>, for_consistency: bool) -> Result<Vec<f32>> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue
            .send(EmbedJob { speech_16k, for_consistency, reply })
            .map_err(|_| Error::Internal("the engine threads have stopped".into()))?;
        answer
            .recv()
            .map_err(|_| Error::Internal("an engine thread stopped mid-embedding".into()))?
            .map_err(engine_error)
    }

    /// Decodes one recording (any format `voiceprint_audio` reads), finds its speech
    /// and embeds the speech. Undecodable audio or audio without speech is a
    /// [`Error::Validation`] that says why.
    pub fn embed_recording(
        &self,
        bytes: &[u8],
        options: &DecodeOptions,
    ) -> Result<SpeechEmbedding> {
        let prepared = Self::prepare_recording(bytes, options)?;
        self.embed_speech(prepared.speech_samples(), prepared.net_speech_seconds())
    }

    /// Decodes a recording and finds its speech, for callers that use the speech
    /// for more than the embedding (e.g. the spoofing countermeasure); errors as
    /// [`Biometrics::embed_recording`].
    pub fn prepare_recording(
        bytes: &[u8],
        options: &DecodeOptions,
    ) -> Result<voiceprint_audio::Prepared> {
        voiceprint_audio::prepare_bytes(bytes, options).map_err(audio_error)
    }

    /// Embeds speech-only samples that hold `net_speech_seconds` of speech.
    pub fn embed_speech(
        &self,
        speech_16k: Vec<f32>,
        net_speech_seconds: f64,
    ) -> Result<SpeechEmbedding> {
        Ok(SpeechEmbedding {
            embedding: self.embed(speech_16k)?,
            net_speech_seconds,
        })
    }

    /// Combines parts of one speaker's speech into a voiceprint, each weighted by its
    /// net speech.
    pub fn voiceprint(&self, parts: &[SpeechEmbedding]) -> Result<Voiceprint> {
        let samples: Vec<EnrollmentSample<'_>> = parts
            .iter()
            .map(|p| EnrollmentSample {
                embedding: &p.embedding,
                net_speech_seconds: p.net_speech_seconds,
            })
            .collect();
        Voiceprint::enroll(&self.model_id, &samples).map_err(engine_error)
    }

    /// Calibrated 0–100 score of `embedding` against `voiceprint` (90 = Voice ID's
    /// default acceptance threshold, at most 1 % false acceptance on the development
    /// lists of the call's channel). Rounds down, so a displayed 90 always means the
    /// calibrated score reached 90.
    /// `conditions`: the test's net speech, which the fused system weighs
    /// ([`SpeechConditions`]).
    pub fn score(
        &self,
        voiceprint: &Voiceprint,
        embedding: &[f32],
        conditions: SpeechConditions,
    ) -> Result<u8> {
        self.score_in_domain(voiceprint, embedding, conditions, None)
    }

    /// Cohort members each authentication is S-normalised against when the domain
    /// cohort is on (a domain needs one more enrolled speaker); None when it is off.
    pub fn domain_cohort_size(&self) -> Option<usize> {
        // for_domain_cohort refuses a domain fusion without a cohort size.
        self.domain_scorer.as_ref()?.cohort_size()
    }

    /// [`Biometrics::score`], S-normalised against `cohort` (a domain's voiceprints less
    /// the claimed speaker's) with the domain fusion and its calibration when given and
    /// the domain cohort is on ([`Biometrics::domain_cohort_size`]).
    pub fn score_in_domain(
        &self,
        voiceprint: &Voiceprint,
        embedding: &[f32],
        conditions: SpeechConditions,
        cohort: Option<TrialCohort<'_>>,
    ) -> Result<u8> {
        let scored = match (&self.domain_scorer, cohort) {
            (Some(domain), Some(cohort)) => {
                domain.score_with(voiceprint, embedding, conditions, Some(cohort))
            }
            _ => self.scorer.score(voiceprint, embedding, conditions),
        }
        .map_err(engine_error)?;
        Ok(scored.score.floor().clamp(0.0, 100.0) as u8)
    }

    /// Parses a stored voiceprint, refusing one from another model (its scores would
    /// mean nothing).
    pub fn parse_voiceprint(&self, bytes: &[u8]) -> Result<Voiceprint> {
        let vp = Voiceprint::from_bytes(bytes).map_err(engine_error)?;
        if vp.model() != self.model_id {
            return Err(Error::Internal(format!(
                "a stored voiceprint was made by model {:?}, but this server runs {:?}; re-enroll",
                vp.model(),
                self.model_id
            )));
        }
        Ok(vp)
    }
}

fn engine_thread(embedder: &dyn Embedder, jobs: &Mutex<Receiver<EmbedJob>>) {
    loop {
        // Hold the lock only to take one job, so the other threads can take theirs.
        let job = {
            let jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.recv()
        };
        let Ok(job) = job else { return };
        // A panic inside the model must not take the thread (and its queue) down.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if job.for_consistency {
                embedder.embed_for_consistency(&job.speech_16k)
            } else {
                embedder.embed(&job.speech_16k)
            }
        }))
        .unwrap_or_else(|_| Err(EngineError::Inference("the model panicked".into())));
        // The caller may have given up; nothing to do then.
        let _ = job.reply.send(result);
    }
}

/// Audio problems are the caller's input: a validation error with the reason.
fn audio_error(e: AudioError) -> Error {
    Error::Validation(format!("audio: {e}"))
}

fn engine_error(e: EngineError) -> Error {
    match e {
        EngineError::Audio(a) => audio_error(a),
        EngineError::TooShort(m) => Error::Validation(format!("audio too short: {m}")),
        other => Error::Internal(format!("speaker model: {other}")),
    }
}

/// The conditions to score an enrollment's voiceprint under when it is the test side
/// (a new enrollment or segment against fraudsters or the speaker's other segments).
/// Noise is not weighed: a voiceprint keeps no STNR, and enrollment quality already
/// refuses or flags noisy enrollment audio.
pub fn enrollment_conditions(voiceprint: &Voiceprint) -> SpeechConditions {
    SpeechConditions::with_net_speech(voiceprint.net_speech_seconds())
}
