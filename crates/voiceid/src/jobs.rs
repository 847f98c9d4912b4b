//! The hook through which batch jobs get run.
//!
//! `StartSpeakerEnrollmentJob` / `StartFraudsterRegistrationJob` validate and store
//! the job as `SUBMITTED`, then hand a [`JobRef`] to the service's [`JobRunner`].
//! Running jobs needs the audio engine and S3-style inputs (issue 6); until that
//! lands the default [`NoJobRunner`] leaves jobs `SUBMITTED`. A runner reports
//! progress by writing the job record back through the store.

/// Which kind of batch job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    SpeakerEnrollment,
    FraudsterRegistration,
}

/// A stored job to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub kind: JobKind,
    pub domain_id: String,
    pub job_id: String,
}

/// Something that runs submitted jobs (asynchronously; `submit` must not block).
pub trait JobRunner: Send + Sync + 'static {
    fn submit(&self, job: JobRef);
}

/// Leaves jobs `SUBMITTED`: the runner until issue 6 provides a real one.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJobRunner;

impl JobRunner for NoJobRunner {
    fn submit(&self, job: JobRef) {
        tracing::debug!(job_id = %job.job_id, kind = ?job.kind, "job stored; no job runner configured (issue 6)");
    }
}
