//! [`BatchJobRunner`]: runs submitted jobs on a background thread, one job at a
//! time, each job's requests prepared on all cores.
//!
//! Per job: read the stored job, mark it IN_PROGRESS, read and parse the manifest,
//! then for every request not yet journalled: fetch its audio, decode, find speech
//! and embed (parallel, a bounded window ahead of the commit point), then commit
//! in manifest order on one thread: fraud check, `enroll_speaker` /
//! `register_fraudster`, journal the outcome. Finally write the output file and
//! the final status (deleting the journal in the same store write).
//!
//! Exactly once across `kill -9`: before a request's store write, an *intent* entry
//! (with what the speaker looked like before, or the time) is journalled; after
//! it, the *done* entry. A restart finds at most one request with an intent and
//! no outcome (commits are sequential), and decides from the store whether its
//! write happened (the speaker was updated since the intent; a fraudster appeared
//! in the watchlist since the intent that no other request of this job claims)
//! instead of doing it twice. Requests that write nothing (errors, skips) are
//! simply done again. Only one registration job per domain runs at a time
//! (Voice ID's quota, enforced at submission), so no other writer adds fraudsters
//! meanwhile.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use voiceprint_audio::DecodeOptions;
use voiceprint_engine::scoring::Voiceprint;
use voiceprint_voiceid::jobs::{
    job_is_unfinished, JOB_COMPLETED, JOB_COMPLETED_WITH_ERRORS, JOB_FAILED, JOB_IN_PROGRESS,
    JOB_SUBMITTED,
};
use voiceprint_voiceid::quality::{
    assess, flags, measure_voice_consistency, rejection, EnrollmentQualitySettings, QualityAction,
    QualityReason, RecordingQuality,
};
use voiceprint_voiceid::types::{FailureDetails, Job, ListRequest, SpeakerRequest, SpeakerStatus};
use voiceprint_voiceid::{
    Biometrics, DuplicateRegistrationAction, EnrollmentOutcome, Error as VoiceIdError,
    ExistingEnrollmentAction, JobKind, JobRef, JobRunner, RegistrationStatus, SpeechEmbedding,
    VoiceIdService,
};

use crate::config::JobsConfig;
use crate::error::{JobError, Result};
use crate::manifest::{
    output_document, parse_manifest, ManifestEntry, ManifestRequest, OutputError, RecordOutcome,
    SuccessfulEnrollment, SuccessfulRegistration,
};
use crate::storage::{output_uri, ObjectStores};

/// One journal entry (stored encrypted in the domain; see `voiceprint_voiceid::jobs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum JournalEntry {
    /// A store write for this request is about to happen.
    Intent {
        /// Wall-clock seconds just before the write.
        at: f64,
        /// Enrollment: the speaker before the write (`None` = did not exist).
        speaker_before: Option<SpeakerBefore>,
    },
    Done(RecordOutcome),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SpeakerBefore {
    status: SpeakerStatus,
    updated_at: f64,
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The queue and the stop flag, shared by the runner handle and its thread.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<JobRef>>,
    wake: Condvar,
    stop: AtomicBool,
}

/// The batch-job runner: plug into [`VoiceIdService::with_job_runner`], then
/// [`BatchJobRunner::start`] it with the service.
pub struct BatchJobRunner {
    config: JobsConfig,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for BatchJobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchJobRunner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JobRunner for BatchJobRunner {
    fn submit(&self, job: JobRef) {
        let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(job);
        self.shared.wake.notify_all();
    }
}

impl BatchJobRunner {
    /// A runner that queues submissions until [`BatchJobRunner::start`].
    pub fn new(config: JobsConfig) -> Arc<Self> {
        Arc::new(BatchJobRunner {
            config,
            shared: Arc::default(),
            thread: Mutex::new(None),
        })
    }

    /// Starts the background thread over `service` (which must have this runner as
    /// its job runner), after queueing every unfinished job found in the store:
    /// jobs interrupted by a crash or shutdown resume here.
    pub fn start(self: &Arc<Self>, service: Arc<VoiceIdService>) -> Result<()> {
        if self.config.paused {
            tracing::warn!("batch jobs are paused (jobs.paused): submitted jobs stay SUBMITTED");
            return Ok(());
        }
        let unfinished = service.unfinished_jobs()?;
        if !unfinished.is_empty() {
            tracing::info!(jobs = unfinished.len(), "resuming unfinished batch jobs");
        }
        {
            let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            for j in unfinished.into_iter().rev() {
                if !q.contains(&j) {
                    q.push_front(j);
                }
            }
        }
        let shared = Arc::clone(&self.shared);
        let config = self.config.clone();
        // The object-store runtime is created on the runner's own thread, never
        // inside the caller's async context.
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
        let handle = std::thread::Builder::new()
            .name("batch-jobs".into())
            .spawn(move || {
                let stores = match ObjectStores::new(&config) {
                    Ok(s) => {
                        let _ = ready_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let ctx = Ctx {
                    service,
                    config,
                    stores,
                    shared,
                };
                ctx.run_queue();
            })
            .map_err(|e| JobError::Config(format!("cannot start the batch-job thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| JobError::Config("the batch-job thread ended at start".into()))??;
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(())
    }

    /// Stops after the request being committed (the job stays IN_PROGRESS and
    /// resumes on the next start) and waits for the thread to end.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_all();
        }
        if let Some(h) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}

/// Everything the runner thread works with.
struct Ctx {
    service: Arc<VoiceIdService>,
    config: JobsConfig,
    stores: ObjectStores,
    shared: Arc<Shared>,
}

/// How a job run ended.
enum RunEnd {
    Finished,
    Stopped,
    /// Another node holds the job's lease (or this node lost it): not ours now.
    Deferred,
}

/// A request's audio turned into a voiceprint (with the highest voice-spoofing
/// risk of its recordings, when the countermeasure ran), or the error for the
/// output file.
/// The voiceprint, the highest spoofing risk, and the enrollment-quality reasons
/// the domain flags (not rejects).
type Prepared = std::result::Result<(Voiceprint, Option<u8>, Vec<QualityReason>), OutputError>;

/// Settings of one job, decoded from its stored record.
struct JobSettings {
    existing: ExistingEnrollmentAction,
    fraud_fail: bool,
    risk_threshold: u8,
    /// Enrollment: watchlists checked under FAIL. Registration: the target (one).
    watchlists: Vec<String>,
    duplicate: DuplicateRegistrationAction,
    similarity_threshold: u8,
    /// Speaker enrollment: the domain's enrollment-quality checks (issue 9).
    quality: Option<EnrollmentQualitySettings>,
}

fn clamp_score(v: Option<i64>, default: u8) -> u8 {
    v.map_or(default, |v| v.clamp(0, 100) as u8)
}

impl JobSettings {
    fn from_job(job: &Job, config: &JobsConfig) -> Self {
        let enrollment = job.enrollment_config.as_ref();
        let fraud = enrollment.and_then(|e| e.fraud_detection_config.as_ref());
        let registration = job.registration_config.as_ref();
        let watchlists = fraud
            .and_then(|f| f.watchlist_ids.clone())
            .or_else(|| registration.and_then(|r| r.watchlist_ids.clone()))
            .unwrap_or_default();
        JobSettings {
            existing: match enrollment.and_then(|e| e.existing_enrollment_action.as_deref()) {
                Some("OVERWRITE") => ExistingEnrollmentAction::Overwrite,
                _ => ExistingEnrollmentAction::Skip,
            },
            fraud_fail: fraud.and_then(|f| f.fraud_detection_action.as_deref()) != Some("IGNORE"),
            risk_threshold: clamp_score(fraud.and_then(|f| f.risk_threshold), 50),
            watchlists,
            duplicate: match registration.and_then(|r| r.duplicate_registration_action.as_deref()) {
                Some("REGISTER_AS_NEW") => DuplicateRegistrationAction::RegisterAsNew,
                _ => DuplicateRegistrationAction::Skip,
            },
            similarity_threshold: clamp_score(
                registration.and_then(|r| r.fraudster_similarity_threshold),
                config.default_fraudster_similarity_threshold,
            ),
            quality: None,
        }
    }
}

fn output_error(request_id: &str, e: &JobError) -> OutputError {
    if e.status_code() == 500 {
        tracing::warn!(error = %e, "batch job request failed on the server side");
    }
    OutputError {
        request_id: request_id.to_owned(),
        error_code: e.status_code(),
        error_message: e.public_message(),
    }
}

/// Buffered journal writes: outcomes of requests that wrote nothing need not be
/// durable before the next request (redoing them is harmless), so they ride along
/// with the next intent or the end of the job.
struct Journal<'a> {
    ctx: &'a Ctx,
    job: &'a JobRef,
    buffered: Vec<(u64, Value)>,
}

impl Journal<'_> {
    fn push(&mut self, seq: usize, entry: &JournalEntry) {
        self.buffered.push((
            seq as u64,
            serde_json::to_value(entry).expect("journal entries serialise"),
        ));
    }

    fn flush(&mut self) -> Result<()> {
        let entries = std::mem::take(&mut self.buffered);
        Ok(self.ctx.service.write_job_journal(self.job, entries)?)
    }
}

impl Ctx {
    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn run_queue(&self) {
        let mut finished: HashSet<JobRef> = HashSet::new();
        loop {
            let job = {
                let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if self.stopping() {
                        return;
                    }
                    if let Some(j) = q.pop_front() {
                        break j;
                    }
                    let (guard, waited) = self
                        .shared
                        .wake
                        .wait_timeout(q, self.rescan_interval())
                        .unwrap_or_else(|p| p.into_inner());
                    q = guard;
                    if waited.timed_out() {
                        // Jobs of a node that died (their lease expires) or submitted
                        // to another node: take them when their lease allows.
                        drop(q);
                        match self.service.unfinished_jobs() {
                            Ok(unfinished) => {
                                q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                                for j in unfinished {
                                    if !finished.contains(&j) && !q.contains(&j) {
                                        q.push_back(j);
                                    }
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "batch jobs: cannot list unfinished jobs");
                                q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                            }
                        }
                    }
                }
            };
            if finished.contains(&job) {
                continue;
            }
            match self.run_job(&job) {
                Ok(RunEnd::Finished) => {
                    finished.insert(job);
                }
                Ok(RunEnd::Stopped) => return,
                Ok(RunEnd::Deferred) => {}
                Err(e) => {
                    // The store itself failed (or the domain vanished mid-job): the job
                    // stays as it is and resumes on the next start.
                    tracing::error!(job_id = %job.job_id, error = %e, "batch job interrupted");
                }
            }
        }
    }

    /// How often an idle runner looks for jobs it may take over.
    fn rescan_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64((self.config.lease_seconds / 2.0).clamp(0.2, 60.0))
    }

    /// Takes or renews this node's lease on `job`.
    fn claim(&self, job: &JobRef) -> Result<bool> {
        Ok(self
            .service
            .claim_job(job, &self.config.node_id, self.config.lease_seconds)?)
    }

    fn fail_job(&self, job: &JobRef, e: &JobError) -> Result<RunEnd> {
        tracing::warn!(job_id = %job.job_id, error = %e, "batch job failed");
        let message = e.public_message();
        let code = i64::from(e.status_code());
        self.service.update_job(job, true, |j| {
            j.job_status = JOB_FAILED.into();
            j.failure_details = Some(FailureDetails {
                message: Some(message),
                status_code: Some(code),
            });
            j.ended_at = Some(now_seconds());
        })?;
        self.service.release_job(job, &self.config.node_id)?;
        Ok(RunEnd::Finished)
    }

    fn run_job(&self, job_ref: &JobRef) -> Result<RunEnd> {
        let Some(job) = self.service.job(job_ref)? else {
            return Ok(RunEnd::Finished);
        };
        if !job_is_unfinished(&job.job_status) {
            return Ok(RunEnd::Finished);
        }
        // Without the speaker model nothing can be done: the job stays SUBMITTED and
        // runs when the server next starts with the weights (the model loads at start).
        let biometrics = match self.service.biometrics() {
            Ok(b) => Arc::clone(b),
            Err(e) => {
                tracing::warn!(job_id = %job_ref.job_id, error = %e,
                    "batch job left SUBMITTED: the speaker model is not loaded");
                return Ok(RunEnd::Finished);
            }
        };
        // One node per job across the fleet (leases in the database).
        if !self.claim(job_ref)? {
            return Ok(RunEnd::Deferred);
        }
        if job.job_status == JOB_SUBMITTED {
            self.service.update_job(job_ref, false, |j| {
                j.job_status = JOB_IN_PROGRESS.into();
            })?;
        }
        tracing::info!(job_id = %job_ref.job_id, kind = ?job_ref.kind, "batch job running");
        let input = &job.input_data_config.s3_uri;
        let manifest = match self.stores.get(input, self.config.max_manifest_bytes) {
            Ok(bytes) => bytes,
            Err(e) => return self.fail_job(job_ref, &e),
        };
        let entries = match parse_manifest(job_ref.kind, &manifest) {
            Ok(entries) => entries,
            Err(e) => return self.fail_job(job_ref, &e),
        };
        drop(manifest);
        let mut settings = JobSettings::from_job(&job, &self.config);
        if job_ref.kind == JobKind::SpeakerEnrollment {
            settings.quality = match self.service.engine_settings(&job_ref.domain_id) {
                Ok(engine) => Some(engine.enrollment_quality),
                Err(e) => return self.fail_job(job_ref, &JobError::from(e)),
            };
        }
        // The countermeasure is costly: run it only where its answer can refuse an
        // enrollment (FraudDetectionAction FAIL).
        let score_spoofing = job_ref.kind == JobKind::SpeakerEnrollment && settings.fraud_fail;
        let quality = settings.quality.as_ref();

        // What earlier runs of this job already did.
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; entries.len()];
        let mut in_doubt: Vec<(usize, f64, Option<SpeakerBefore>)> = Vec::new();
        for (seq, value) in self.service.job_journal(job_ref)? {
            let seq = seq as usize;
            if seq >= entries.len() {
                continue;
            }
            match serde_json::from_value::<JournalEntry>(value) {
                Ok(JournalEntry::Done(o)) => outcomes[seq] = Some(o),
                Ok(JournalEntry::Intent { at, speaker_before }) => {
                    in_doubt.push((seq, at, speaker_before))
                }
                Err(e) => {
                    return Err(JobError::VoiceId(VoiceIdError::Internal(format!(
                        "unreadable journal entry: {e}"
                    ))))
                }
            }
        }
        let mut journal = Journal {
            ctx: self,
            job: job_ref,
            buffered: Vec::new(),
        };
        for (seq, at, before) in in_doubt {
            if outcomes[seq].is_some() {
                continue;
            }
            let ManifestEntry::Valid(req) = &entries[seq] else {
                continue;
            };
            if let Some(o) =
                self.resolve_in_doubt(job_ref, &settings, req, at, before, &outcomes)?
            {
                tracing::info!(job_id = %job_ref.job_id, seq, "in-doubt request had been written before the restart");
                journal.push(seq, &JournalEntry::Done(o.clone()));
                outcomes[seq] = Some(o);
            }
        }
        journal.flush()?;

        let pending: Vec<usize> = (0..entries.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        let total = entries.len();
        let mut done = total - pending.len();
        let mut percent = percent_of(done, total);
        self.service.update_job(job_ref, false, |j| {
            j.job_progress.percent_complete = percent;
        })?;

        let workers = if self.config.workers > 0 {
            self.config.workers
        } else {
            biometrics.workers() * 2
        };
        let window = workers * 2;
        let next = AtomicUsize::new(0);
        let gate = (Mutex::new(0usize), Condvar::new());
        // Set when this job's commit loop ends early (stop or store error).
        let abort = AtomicBool::new(false);
        // Set when another node took the job over (this node stalled past its lease).
        let lost_lease = AtomicBool::new(false);
        let halted = || self.stopping() || abort.load(Ordering::SeqCst);
        let (tx, rx) = mpsc::channel::<(usize, Prepared)>();
        let commits_over = AtomicBool::new(false);
        let stopped = std::thread::scope(|scope| -> Result<bool> {
            // Heartbeat: renews the job's lease while the job runs (downloads and the
            // model can keep the commit loop quiet for a while).
            {
                let (commits_over, lost_lease) = (&commits_over, &lost_lease);
                scope.spawn(move || {
                    let every = std::time::Duration::from_secs_f64(self.config.lease_seconds / 3.0);
                    let mut renewed = std::time::Instant::now();
                    while !commits_over.load(Ordering::SeqCst) {
                        std::thread::sleep(every.min(std::time::Duration::from_millis(50)));
                        if renewed.elapsed() < every {
                            continue;
                        }
                        if !matches!(self.claim(job_ref), Ok(true)) {
                            lost_lease.store(true, Ordering::SeqCst);
                            return;
                        }
                        renewed = std::time::Instant::now();
                    }
                });
            }
            for _ in 0..workers.min(pending.len()) {
                let tx = tx.clone();
                let (next, gate, pending, entries, biometrics, halted) =
                    (&next, &gate, &pending, &entries, &biometrics, &halted);
                scope.spawn(move || loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= pending.len() {
                        return;
                    }
                    // Bounded memory: never run more than `window` requests ahead of
                    // the commit point.
                    {
                        let committed = gate.0.lock().unwrap_or_else(|p| p.into_inner());
                        let committed = gate
                            .1
                            .wait_while(committed, |c| k >= *c + window && !halted())
                            .unwrap_or_else(|p| p.into_inner());
                        drop(committed);
                    }
                    if halted() {
                        return;
                    }
                    let prepared = match &entries[pending[k]] {
                        ManifestEntry::Valid(req) => {
                            self.prepare(req, biometrics, score_spoofing, quality)
                        }
                        // Nothing to prepare: the commit loop writes its error.
                        ManifestEntry::Invalid {
                            request_id,
                            message,
                        } => Err(OutputError {
                            request_id: request_id.clone(),
                            error_code: 400,
                            error_message: message.clone(),
                        }),
                    };
                    if tx.send((k, prepared)).is_err() {
                        return;
                    }
                });
            }
            drop(tx);
            let mut ready: BTreeMap<usize, Prepared> = BTreeMap::new();
            let mut committed = 0usize;
            let result = (|| -> Result<bool> {
                for (k, prepared) in rx.iter() {
                    ready.insert(k, prepared);
                    while let Some(prepared) = ready.remove(&committed) {
                        if self.stopping() {
                            return Ok(true);
                        }
                        if lost_lease.load(Ordering::SeqCst) {
                            return Ok(true);
                        }
                        let seq = pending[committed];
                        let outcome = match &entries[seq] {
                            ManifestEntry::Invalid {
                                request_id,
                                message,
                            } => RecordOutcome::Error(OutputError {
                                request_id: request_id.clone(),
                                error_code: 400,
                                error_message: message.clone(),
                            }),
                            ManifestEntry::Valid(req) => {
                                self.commit(job_ref, &settings, req, seq, prepared, &mut journal)?
                            }
                        };
                        journal.push(seq, &JournalEntry::Done(outcome.clone()));
                        outcomes[seq] = Some(outcome);
                        committed += 1;
                        done += 1;
                        {
                            let mut c = gate.0.lock().unwrap_or_else(|p| p.into_inner());
                            *c = committed;
                            gate.1.notify_all();
                        }
                        let p = percent_of(done, total).min(99);
                        if p != percent {
                            percent = p;
                            journal.flush()?;
                            self.service.update_job(job_ref, false, |j| {
                                j.job_progress.percent_complete = p;
                            })?;
                        }
                    }
                }
                Ok(self.stopping())
            })();
            commits_over.store(true, Ordering::SeqCst);
            if !matches!(result, Ok(false)) {
                // Stop the workers: they check the flag before each request.
                abort.store(true, Ordering::SeqCst);
            }
            {
                let _c = gate.0.lock().unwrap_or_else(|p| p.into_inner());
                gate.1.notify_all();
            }
            drop(rx);
            result
        })?;
        journal.flush()?;
        if lost_lease.load(Ordering::SeqCst) {
            tracing::warn!(job_id = %job_ref.job_id, "batch job lease lost; another node continues it");
            return Ok(RunEnd::Deferred);
        }
        if stopped {
            tracing::info!(job_id = %job_ref.job_id, "batch job paused; it resumes on the next start");
            return Ok(RunEnd::Stopped);
        }

        let outcomes: Vec<RecordOutcome> = outcomes.into_iter().flatten().collect();
        debug_assert_eq!(outcomes.len(), total);
        let out_uri = output_uri(
            &job.output_data_config.s3_uri,
            &job_ref.job_id,
            &job.input_data_config.s3_uri,
        );
        if let Err(e) = self
            .stores
            .put(&out_uri, output_document(job_ref.kind, &outcomes))
        {
            return self.fail_job(job_ref, &e);
        }
        let status = if outcomes.iter().any(RecordOutcome::is_error) {
            JOB_COMPLETED_WITH_ERRORS
        } else {
            JOB_COMPLETED
        };
        self.service.update_job(job_ref, true, |j| {
            j.job_status = status.into();
            j.job_progress.percent_complete = 100;
            j.ended_at = Some(now_seconds());
        })?;
        self.service.release_job(job_ref, &self.config.node_id)?;
        tracing::info!(job_id = %job_ref.job_id, status, records = total, "batch job finished");
        Ok(RunEnd::Finished)
    }

    /// Fetch, decode, find speech and embed every audio file of a request; check
    /// the net speech; combine into a voiceprint.
    fn prepare(
        &self,
        req: &ManifestRequest,
        biometrics: &Biometrics,
        score_spoofing: bool,
        quality: Option<&EnrollmentQualitySettings>,
    ) -> Prepared {
        let fail = |e: JobError| output_error(&req.request_id, &e);
        let mut parts: Vec<SpeechEmbedding> = Vec::with_capacity(req.audio.len());
        // Enrollment quality: the recordings' signal quality and speech together.
        let mut signal: Option<RecordingQuality> = None;
        let mut all_speech: Vec<f32> = Vec::new();
        let mut spoof_risk: Option<u8> = None;
        for spec in &req.audio {
            let bytes = self
                .stores
                .get(&spec.uri, self.config.max_audio_bytes)
                .map_err(fail)?;
            let options = DecodeOptions {
                channel_index: spec.channel,
                ..DecodeOptions::default()
            };
            let audio_error = |e: VoiceIdError| match e {
                VoiceIdError::Validation(m) => {
                    fail(JobError::Request(format!("{}: {m}", spec.uri)))
                }
                other => fail(other.into()),
            };
            // Decoded once: the embedding and (when asked) the countermeasure both
            // take this recording's speech.
            let audio = Biometrics::prepare_recording(&bytes, &options).map_err(audio_error)?;
            let speech = audio.speech_samples();
            if quality.is_some() {
                let q = RecordingQuality::from_audio(&audio.quality());
                match signal.as_mut() {
                    Some(s) => s.add(&q),
                    None => signal = Some(q),
                }
                all_speech.extend_from_slice(&speech);
            }
            if let (true, Some(scorer)) = (score_spoofing, self.service.spoof_scorer()) {
                let risk = scorer.risk_score(&speech).map_err(|e| fail(e.into()))?;
                spoof_risk = Some(spoof_risk.map_or(risk, |r| r.max(risk)));
            }
            let part = biometrics
                .embed_speech(speech, audio.net_speech_seconds())
                .map_err(audio_error)?;
            parts.push(part);
        }
        let speech: f64 = parts.iter().map(|p| p.net_speech_seconds).sum();
        if speech < self.config.min_speech_seconds {
            return Err(fail(JobError::Request(format!(
                "{}not enough speech: the audio holds {speech:.1} s of net speech; at least {:.0} s are needed",
                if quality.is_some() { "enrollment quality: TOO_SHORT: " } else { "" },
                self.config.min_speech_seconds
            ))));
        }
        let mut flagged = Vec::new();
        if let Some(settings) = quality {
            let voices = if settings.multiple_voices_action == QualityAction::Off {
                None
            } else {
                measure_voice_consistency(biometrics, &all_speech).map_err(|e| fail(e.into()))?
            };
            drop(all_speech);
            let findings = assess(settings, signal.as_ref(), voices.as_ref());
            if let Some(message) = rejection(&findings) {
                return Err(fail(JobError::Request(message)));
            }
            flagged = flags(&findings);
        }
        let voiceprint = biometrics.voiceprint(&parts).map_err(|e| fail(e.into()))?;
        Ok((voiceprint, spoof_risk, flagged))
    }

    /// Applies one prepared request to the store (in manifest order).
    fn commit(
        &self,
        job: &JobRef,
        settings: &JobSettings,
        req: &ManifestRequest,
        seq: usize,
        prepared: Prepared,
        journal: &mut Journal<'_>,
    ) -> Result<RecordOutcome> {
        let (voiceprint, spoof_risk, flagged) = match prepared {
            Ok(p) => p,
            Err(e) => return Ok(RecordOutcome::Error(e)),
        };
        let fail = |e: JobError| Ok(RecordOutcome::Error(output_error(&req.request_id, &e)));
        match job.kind {
            JobKind::SpeakerEnrollment => {
                let speaker_id = req.speaker_id.as_deref().unwrap_or_default();
                if settings.fraud_fail {
                    if let Some(risk) = spoof_risk.filter(|r| *r >= settings.risk_threshold) {
                        return fail(JobError::Request(format!(
                            "fraud check failed: voice spoofing risk {risk} >= RiskThreshold {} \
                             (the recording looks synthetic or replayed); the speaker was not enrolled",
                            settings.risk_threshold
                        )));
                    }
                    for w in &settings.watchlists {
                        match self.service.known_fraudster_risk(
                            &job.domain_id,
                            Some(w),
                            voiceprint.values(),
                            voiceprint_voiceid::enrollment_conditions(&voiceprint),
                        ) {
                            Ok(Some(m)) if m.risk_score >= settings.risk_threshold => {
                                return fail(JobError::Request(format!(
                                    "fraud check failed: the voice matches a known fraudster in watchlist {w} \
                                     (risk score {} >= RiskThreshold {}); the speaker was not enrolled",
                                    m.risk_score, settings.risk_threshold
                                )));
                            }
                            Ok(_) => {}
                            Err(e) => return fail(e.into()),
                        }
                    }
                }
                let before = self.speaker(job, speaker_id)?;
                journal.push(
                    seq,
                    &JournalEntry::Intent {
                        at: now_seconds(),
                        speaker_before: before,
                    },
                );
                journal.flush()?;
                match self.service.enroll_speaker_flagged(
                    &job.domain_id,
                    speaker_id,
                    &voiceprint,
                    settings.existing,
                    &flagged,
                ) {
                    Ok(e) => Ok(RecordOutcome::Enrolled(SuccessfulEnrollment {
                        request_id: req.request_id.clone(),
                        generated_speaker_id: e.generated_speaker_id,
                        customer_speaker_id: e
                            .customer_speaker_id
                            .unwrap_or_else(|| speaker_id.to_owned()),
                        enrollment_status: enrollment_status(e.outcome).into(),
                    })),
                    Err(e) => fail(e.into()),
                }
            }
            JobKind::FraudsterRegistration => {
                let watchlist = settings.watchlists.first().map(String::as_str);
                journal.push(
                    seq,
                    &JournalEntry::Intent {
                        at: now_seconds(),
                        speaker_before: None,
                    },
                );
                journal.flush()?;
                match self.service.register_fraudster(
                    &job.domain_id,
                    watchlist,
                    &voiceprint,
                    settings.duplicate,
                    settings.similarity_threshold,
                ) {
                    Ok(r) => Ok(RecordOutcome::Registered(SuccessfulRegistration {
                        request_id: req.request_id.clone(),
                        generated_fraudster_id: r.generated_fraudster_id,
                        registration_status: match r.status {
                            RegistrationStatus::NewRegistration => "NEW_REGISTRATION",
                            RegistrationStatus::DuplicateSkipped => "DUPLICATE_SKIPPED",
                        }
                        .into(),
                        fraudster_similarity_score: r.similarity_score,
                    })),
                    Err(e) => fail(e.into()),
                }
            }
        }
    }

    /// The speaker's status and UpdatedAt, or None when it does not exist.
    fn speaker(&self, job: &JobRef, speaker_id: &str) -> Result<Option<SpeakerBefore>> {
        match self.service.describe_speaker(SpeakerRequest {
            domain_id: job.domain_id.clone(),
            speaker_id: speaker_id.to_owned(),
        }) {
            Ok(r) => Ok(Some(SpeakerBefore {
                status: r.speaker.status,
                updated_at: r.speaker.updated_at,
            })),
            Err(VoiceIdError::ResourceNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store write of a request interrupted by a crash happened; its
    /// outcome when it did.
    fn resolve_in_doubt(
        &self,
        job: &JobRef,
        settings: &JobSettings,
        req: &ManifestRequest,
        at: f64,
        before: Option<SpeakerBefore>,
        outcomes: &[Option<RecordOutcome>],
    ) -> Result<Option<RecordOutcome>> {
        match job.kind {
            JobKind::SpeakerEnrollment => {
                let speaker_id = req.speaker_id.as_deref().unwrap_or_default();
                let Ok(now) = self.service.describe_speaker(SpeakerRequest {
                    domain_id: job.domain_id.clone(),
                    speaker_id: speaker_id.to_owned(),
                }) else {
                    return Ok(None);
                };
                let s = now.speaker;
                let written = s.status == SpeakerStatus::Enrolled
                    && before.as_ref().is_none_or(|b| s.updated_at > b.updated_at);
                if !written {
                    return Ok(None);
                }
                let outcome = match before.map(|b| b.status) {
                    None | Some(SpeakerStatus::Pending) => EnrollmentOutcome::NewEnrollment,
                    Some(_) => EnrollmentOutcome::EnrollmentOverwrite,
                };
                Ok(Some(RecordOutcome::Enrolled(SuccessfulEnrollment {
                    request_id: req.request_id.clone(),
                    generated_speaker_id: s.generated_speaker_id,
                    customer_speaker_id: s
                        .customer_speaker_id
                        .unwrap_or_else(|| speaker_id.to_owned()),
                    enrollment_status: enrollment_status(outcome).into(),
                })))
            }
            JobKind::FraudsterRegistration => {
                let claimed: HashSet<&str> = outcomes
                    .iter()
                    .flatten()
                    .filter_map(|o| match o {
                        RecordOutcome::Registered(r) => Some(r.generated_fraudster_id.as_str()),
                        _ => None,
                    })
                    .collect();
                let mut next_token = None;
                loop {
                    let page = self.service.list_fraudsters(ListRequest {
                        domain_id: job.domain_id.clone(),
                        max_results: Some(100),
                        next_token: next_token.take(),
                        watchlist_id: settings.watchlists.first().cloned(),
                        job_status: None,
                    })?;
                    if let Some(f) = page.fraudster_summaries.into_iter().find(|f| {
                        f.created_at >= at && !claimed.contains(f.generated_fraudster_id.as_str())
                    }) {
                        return Ok(Some(RecordOutcome::Registered(SuccessfulRegistration {
                            request_id: req.request_id.clone(),
                            generated_fraudster_id: f.generated_fraudster_id,
                            registration_status: "NEW_REGISTRATION".into(),
                            fraudster_similarity_score: None,
                        })));
                    }
                    match page.next_token {
                        Some(t) => next_token = Some(t),
                        None => return Ok(None),
                    }
                }
            }
        }
    }
}

fn enrollment_status(o: EnrollmentOutcome) -> &'static str {
    match o {
        EnrollmentOutcome::NewEnrollment => "NEW_ENROLLMENT",
        EnrollmentOutcome::EnrollmentOverwrite => "ENROLLMENT_OVERWRITE",
        EnrollmentOutcome::DuplicateSkipped => "DUPLICATE_SKIPPED",
        EnrollmentOutcome::EnrollmentEnhanced => "ENROLLMENT_ENHANCED",
    }
}

fn percent_of(done: usize, total: usize) -> i64 {
    (done * 100).checked_div(total).map_or(100, |p| p as i64)
}

/// Convenience for tests and tools: the queue's length (jobs not yet started).
impl BatchJobRunner {
    pub fn queued(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}
