//! The hook through which batch jobs get run, and the job-record access a runner
//! needs.
//!
//! `StartSpeakerEnrollmentJob` / `StartFraudsterRegistrationJob` validate and store
//! the job as `SUBMITTED`, then hand a [`JobRef`] to the service's [`JobRunner`]
//! (`voiceprint-jobs` provides the real one; the default [`NoJobRunner`] leaves jobs
//! `SUBMITTED`). The runner then reads the job back, writes status and progress
//! with [`VoiceIdService::update_job`], and keeps a per-request journal with
//! [`VoiceIdService::write_job_journal`] so a restart resumes where it stopped.
//!
//! Key decision: the journal lives in the store, in the domain, as `ClientToken`
//! rows with ids `JobRecord:<kind>:<jobId>:<seq>` (no operation is named
//! `JobRecord`, so they never collide with idempotency records). So it is
//! encrypted with the domain's key (entries carry CustomerSpeakerIds), written
//! durably like every other row, and erased by `DeleteDomain`.

use serde_json::Value;
use voiceprint_store::{Kind, Record, Write};

use crate::error::{Error, Result};
use crate::types::{Job, JobRequest};
use crate::VoiceIdService;

/// Which kind of batch job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    SpeakerEnrollment,
    FraudsterRegistration,
}

impl JobKind {
    fn store_kind(self) -> Kind {
        match self {
            JobKind::SpeakerEnrollment => Kind::SpeakerEnrollmentJob,
            JobKind::FraudsterRegistration => Kind::FraudsterRegistrationJob,
        }
    }

    fn journal_tag(self) -> &'static str {
        match self {
            JobKind::SpeakerEnrollment => "SE",
            JobKind::FraudsterRegistration => "FR",
        }
    }
}

/// A stored job to run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobRef {
    pub kind: JobKind,
    pub domain_id: String,
    pub job_id: String,
}

/// Something that runs submitted jobs (asynchronously; `submit` must not block).
pub trait JobRunner: Send + Sync + 'static {
    fn submit(&self, job: JobRef);
}

/// Leaves jobs `SUBMITTED`: the runner of a service built without `voiceprint-jobs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJobRunner;

impl JobRunner for NoJobRunner {
    fn submit(&self, job: JobRef) {
        tracing::debug!(job_id = %job.job_id, kind = ?job.kind, "job stored; no job runner configured");
    }
}

/// `JobStatus` values.
pub const JOB_SUBMITTED: &str = "SUBMITTED";
pub const JOB_IN_PROGRESS: &str = "IN_PROGRESS";
pub const JOB_COMPLETED: &str = "COMPLETED";
pub const JOB_COMPLETED_WITH_ERRORS: &str = "COMPLETED_WITH_ERRORS";
pub const JOB_FAILED: &str = "FAILED";

/// Whether a job in `status` still has work to do.
/// The lease record of a job (in the ClientToken rows, like the journal).
/// Lease changes within this process (the cluster lock covers other nodes; it is
/// a no-op on single-process stores, where two runners can still share one store).
static LEASES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lease_id(job: &JobRef) -> String {
    format!("lease:{}", job.job_id)
}

pub fn job_is_unfinished(status: &str) -> bool {
    status == JOB_SUBMITTED || status == JOB_IN_PROGRESS
}

const JOURNAL_PREFIX: &str = "JobRecord";
const LIST_CHUNK: usize = 1000;

fn journal_prefix(job: &JobRef) -> String {
    format!(
        "{JOURNAL_PREFIX}:{}:{}:",
        job.kind.journal_tag(),
        job.job_id
    )
}

impl VoiceIdService {
    /// The stored job, JobName included; `None` when the job or its domain is gone.
    pub fn job(&self, job: &JobRef) -> Result<Option<Job>> {
        let req = JobRequest {
            domain_id: job.domain_id.clone(),
            job_id: job.job_id.clone(),
        };
        let found = match job.kind {
            JobKind::SpeakerEnrollment => self.describe_speaker_enrollment_job(req),
            JobKind::FraudsterRegistration => self.describe_fraudster_registration_job(req),
        };
        match found {
            Ok(r) => Ok(Some(r.job)),
            Err(Error::ResourceNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read-modify-write of a job's status fields (the runner is the only writer of
    /// a job after it is submitted). With `clear_journal`, the job's journal is
    /// deleted in the same atomic write (when the job reaches its final status).
    /// Returns `None` when the job or its domain is gone.
    pub fn update_job(
        &self,
        job: &JobRef,
        clear_journal: bool,
        update: impl FnOnce(&mut Job),
    ) -> Result<Option<Job>> {
        let Some(mut rec) = self
            .store()
            .get(job.kind.store_kind(), &job.domain_id, &job.job_id)?
        else {
            return Ok(None);
        };
        let mut stored: Job = serde_json::from_value(rec.attributes.clone())?;
        update(&mut stored);
        // JobName lives in the encrypted part of the row; never in the attributes.
        stored.job_name = None;
        rec.attributes = serde_json::to_value(&stored)?;
        let mut writes = vec![Write::Put(rec)];
        if clear_journal {
            for (seq, _) in self.job_journal(job)? {
                writes.push(Write::Delete {
                    kind: Kind::ClientToken,
                    domain_id: job.domain_id.clone(),
                    id: format!("{}{seq:010}", journal_prefix(job)),
                });
            }
        }
        self.store().apply(writes)?;
        self.job(job)
    }

    /// Takes or renews the lease on `job` for `owner` until `lease_seconds` from now,
    /// unless another owner holds an unexpired one (then false). Nodes sharing a
    /// database run each job once this way; a dead node's lease simply expires.
    pub fn claim_job(&self, job: &JobRef, owner: &str, lease_seconds: f64) -> Result<bool> {
        let _process = LEASES.lock().unwrap_or_else(|p| p.into_inner());
        let _cluster = self
            .store()
            .cluster_lock(&format!("job-lease:{}", job.job_id))?;
        let id = lease_id(job);
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        if let Some(rec) = self.store().get(Kind::ClientToken, &job.domain_id, &id)? {
            let holder = rec.attributes.get("owner").and_then(Value::as_str);
            let until = rec
                .attributes
                .get("until")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            if holder != Some(owner) && until > now {
                return Ok(false);
            }
        }
        if self.job(job)?.is_none() {
            return Ok(false);
        }
        self.store()
            .apply(vec![Write::Put(voiceprint_store::Record {
                kind: Kind::ClientToken,
                domain_id: job.domain_id.clone(),
                id,
                alt_key: None,
                attributes: serde_json::json!({"owner": owner, "until": now + lease_seconds}),
                sensitive: serde_json::json!({}),
                voiceprint: None,
            })])?;
        Ok(true)
    }

    /// Gives up `owner`'s lease on `job` (after its final status is written).
    pub fn release_job(&self, job: &JobRef, owner: &str) -> Result<()> {
        let _process = LEASES.lock().unwrap_or_else(|p| p.into_inner());
        let _cluster = self
            .store()
            .cluster_lock(&format!("job-lease:{}", job.job_id))?;
        let id = lease_id(job);
        if let Some(rec) = self.store().get(Kind::ClientToken, &job.domain_id, &id)? {
            if rec.attributes.get("owner").and_then(Value::as_str) == Some(owner) {
                self.store().apply(vec![Write::Delete {
                    kind: Kind::ClientToken,
                    domain_id: job.domain_id.clone(),
                    id,
                }])?;
            }
        }
        Ok(())
    }

    /// Every job, in every domain, that is still SUBMITTED or IN_PROGRESS, oldest
    /// first: what a runner resumes after a restart.
    pub fn unfinished_jobs(&self) -> Result<Vec<JobRef>> {
        let mut found: Vec<(f64, JobRef)> = Vec::new();
        for domain in self.list_all(Kind::Domain, "")? {
            for kind in [JobKind::SpeakerEnrollment, JobKind::FraudsterRegistration] {
                for rec in self.list_all(kind.store_kind(), &domain.id)? {
                    let status = rec.attributes.get("JobStatus").and_then(Value::as_str);
                    if status.is_some_and(job_is_unfinished) {
                        let created = rec
                            .attributes
                            .get("CreatedAt")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0);
                        found.push((
                            created,
                            JobRef {
                                kind,
                                domain_id: domain.id.clone(),
                                job_id: rec.id.clone(),
                            },
                        ));
                    }
                }
            }
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(found.into_iter().map(|(_, j)| j).collect())
    }

    /// The job's journal: `(seq, entry)` in seq order (entries are the runner's JSON).
    pub fn job_journal(&self, job: &JobRef) -> Result<Vec<(u64, Value)>> {
        let prefix = journal_prefix(job);
        let mut out = Vec::new();
        let mut after = prefix.clone();
        loop {
            let batch =
                self.store()
                    .list(Kind::ClientToken, &job.domain_id, Some(&after), LIST_CHUNK)?;
            let exhausted = batch.len() < LIST_CHUNK;
            for rec in &batch {
                let Some(seq) = rec.id.strip_prefix(&prefix) else {
                    return Ok(out);
                };
                let seq = seq
                    .parse::<u64>()
                    .map_err(|_| Error::Internal(format!("bad journal row id {:?}", rec.id)))?;
                out.push((seq, rec.sensitive.clone()));
            }
            match batch.last() {
                Some(last) if !exhausted => after = last.id.clone(),
                _ => return Ok(out),
            }
        }
    }

    /// Durably (over)writes journal entries `(seq, entry)` of a job, atomically.
    pub fn write_job_journal(&self, job: &JobRef, entries: Vec<(u64, Value)>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let prefix = journal_prefix(job);
        let writes = entries
            .into_iter()
            .map(|(seq, entry)| {
                Write::Put(Record {
                    kind: Kind::ClientToken,
                    domain_id: job.domain_id.clone(),
                    id: format!("{prefix}{seq:010}"),
                    alt_key: None,
                    attributes: Value::Object(Default::default()),
                    sensitive: entry,
                    voiceprint: None,
                })
            })
            .collect();
        Ok(self.store().apply(writes)?)
    }

    fn list_all(&self, kind: Kind, domain_id: &str) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let batch = self.store().list_without_voiceprints(
                kind,
                domain_id,
                after.as_deref(),
                LIST_CHUNK,
            )?;
            let exhausted = batch.len() < LIST_CHUNK;
            after = batch.last().map(|r| r.id.clone());
            out.extend(batch);
            if exhausted {
                return Ok(out);
            }
        }
    }
}
