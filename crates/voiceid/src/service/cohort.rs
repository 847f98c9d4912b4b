//! A domain's own enrolled speakers as the S-norm cohort of its authentications.
//!
//! Why: normalising a score by how the voiceprint and the caller's speech compare with
//! other speakers *of the same population and channels* removes what a raw cosine cannot
//! tell apart from identity (a handset, a room, a language). Measured on the development
//! lists (docs/CALIBRATION.md), the domain fusion over such a cohort beats the plain
//! fusion; a cohort of strangers (LibriSpeech) made it worse, so there is no shipped
//! cohort, only the domain's own.
//!
//! Rules: every trial is normalised against exactly the domain fusion's cohort size
//! (`DOMAIN_COHORT_SIZE`, 40) of the domain's voiceprints — top-N statistics drift with
//! the cohort's size, and the calibration with them. The cohort holds the first size + 1
//! speakers (by generated id, which is random, so a fair sample) whose voiceprint
//! verification may use; a trial leaves the claimed speaker out (or, when they are not
//! among them, the last one). A domain with fewer speakers scores without a cohort.
//! Fraudster risk never uses it: a fraudster who is also an enrolled speaker would be in
//! the cohort and mask themselves.
//!
//! Caching: building a cohort reads and decrypts up to a hundred voiceprints, so each
//! domain's is kept in memory, dropped when this process writes a speaker of the domain
//! (enrollment, retraining, opt-out, deletion: a deleted voiceprint leaves memory at
//! once) and rebuilt at least every [`DOMAIN_COHORT_TTL`] for other servers' writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use voiceprint_engine::cohort::{Cohort, TrialCohort};
use voiceprint_store::{Kind, Write};

use super::lifecycle::VoiceprintAvailability;
use super::VoiceIdService;
use crate::error::{Error, Result};

/// Longest a cached cohort is used before it is rebuilt.
pub const DOMAIN_COHORT_TTL: Duration = Duration::from_secs(60);

/// One domain's cohort and where each speaker sits in it.
pub struct DomainCohort {
    built_at: Instant,
    /// None: too few usable voiceprints.
    cohort: Option<Cohort>,
    rows: HashMap<String, usize>,
}

impl DomainCohort {
    /// The cohort of a trial claiming `speaker_id` (None when the domain has too few
    /// speakers).
    pub fn for_speaker(&self, speaker_id: &str) -> Option<TrialCohort<'_>> {
        self.cohort.as_ref().map(|cohort| TrialCohort {
            cohort,
            exclude: self.rows.get(speaker_id).map_or(&[], std::slice::from_ref),
        })
    }

    /// Speakers in the cohort (0 when the domain has too few).
    pub fn len(&self) -> usize {
        self.cohort.as_ref().map_or(0, Cohort::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// Holds decrypted voiceprints: print nothing of them.
impl std::fmt::Debug for DomainCohort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainCohort").field("speakers", &self.len()).finish()
    }
}

/// Every domain's cached cohort.
#[derive(Default)]
pub(crate) struct DomainCohorts {
    by_domain: Mutex<HashMap<String, Arc<DomainCohort>>>,
    /// Bumped by every invalidation: a cohort built while one happened may hold a
    /// voiceprint that was just deleted, so it serves its own call but is not cached.
    generation: AtomicU64,
}

/// The domains whose speakers `writes` touch.
pub(crate) fn speaker_domains(writes: &[Write]) -> Vec<String> {
    let mut domains: Vec<String> = writes
        .iter()
        .filter_map(|write| match write {
            Write::Put(rec) if rec.kind == Kind::Speaker => Some(rec.domain_id.clone()),
            Write::Delete { kind: Kind::Speaker, domain_id, .. } => Some(domain_id.clone()),
            _ => None,
        })
        .collect();
    domains.dedup();
    domains
}

impl DomainCohorts {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<DomainCohort>>> {
        self.by_domain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the cached cohorts of `domains`.
    pub(crate) fn invalidate(&self, domains: &[String]) {
        if domains.is_empty() {
            return;
        }
        let mut map = self.map();
        self.generation.fetch_add(1, Ordering::SeqCst);
        for domain_id in domains {
            map.remove(domain_id);
        }
    }
}

impl VoiceIdService {
    /// The domain's cohort for authentication, built or taken from the cache; None when
    /// the speaker model does not use one.
    pub fn domain_cohort(&self, domain_id: &str) -> Result<Option<Arc<DomainCohort>>> {
        let Some(size) = self.biometrics()?.domain_cohort_size() else {
            return Ok(None);
        };
        if let Some(c) = self.domain_cohorts.map().get(domain_id) {
            if c.built_at.elapsed() < DOMAIN_COHORT_TTL {
                return Ok(Some(Arc::clone(c)));
            }
        }
        let generation = self.domain_cohorts.generation.load(Ordering::SeqCst);
        let built = Arc::new(self.build_domain_cohort(domain_id, size + 1)?);
        let mut map = self.domain_cohorts.map();
        // Invalidations take the map's lock before bumping the generation, so none can
        // slip between this check and the insert.
        if self.domain_cohorts.generation.load(Ordering::SeqCst) == generation {
            map.insert(domain_id.to_owned(), Arc::clone(&built));
        }
        Ok(Some(built))
    }

    /// The first `members` usable voiceprints of the domain, or no cohort when it has
    /// fewer.
    fn build_domain_cohort(&self, domain_id: &str, members: usize) -> Result<DomainCohort> {
        let built_at = Instant::now();
        let now = self.now();
        let mut ids = Vec::new();
        let mut voiceprints = Vec::new();
        let mut after: Option<String> = None;
        'pages: loop {
            let batch = self
                .store
                .list(Kind::Speaker, domain_id, after.as_deref(), 200)?;
            let done = batch.len() < 200;
            after = batch.last().map(|r| r.id.clone());
            for rec in batch {
                if let VoiceprintAvailability::Usable(vp) = self.voiceprint_availability(&rec, now)? {
                    ids.push(rec.id);
                    voiceprints.push(vp.values().to_vec());
                    if voiceprints.len() == members {
                        break 'pages;
                    }
                }
            }
            if done {
                break;
            }
        }
        if voiceprints.len() < members {
            return Ok(DomainCohort { built_at, cohort: None, rows: HashMap::new() });
        }
        let model = self.biometrics()?.model_id().to_owned();
        let cohort = Cohort::new(&model, &voiceprints)
            .map_err(|e| Error::Internal(format!("domain cohort: {e}")))?;
        let rows = ids.into_iter().enumerate().map(|(row, id)| (id, row)).collect();
        Ok(DomainCohort { built_at, cohort: Some(cohort), rows })
    }
}
