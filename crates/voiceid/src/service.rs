//! [`VoiceIdService`]: one method per Voice ID operation, over a [`Store`].
//!
//! Rows: a domain record (plaintext: times, status, key id, default watchlist,
//! encryption-update details; encrypted: name, description, tags), watchlists,
//! fraudsters (watchlist ids; voiceprint), speakers (alt key = CustomerSpeakerId;
//! voiceprint), jobs, and ClientToken records. Read-modify-write operations are
//! serialised by one mutex so quotas and fraudster/watchlist invariants hold under
//! concurrency; reads take no lock.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};
use voiceprint_store::{Kind, Record, Store, Write};

use crate::clock::{Clock, SystemClock};
use crate::config::ServiceConfig;
use crate::error::{ConflictType, Error, ResourceType, Result};
use crate::ids::{is_generated_id, new_generated_id, new_id22};
use crate::jobs::{JobKind, JobRef, JobRunner, NoJobRunner};
use crate::token::{Cursor, TokenCodec};
use crate::types::*;

pub mod cohort;
pub mod enrollment;
pub mod lifecycle;

/// Name given to the watchlist every domain is created with.
pub const DEFAULT_WATCHLIST_NAME: &str = "Default";
const DOMAIN_ACTIVE: &str = "ACTIVE";
const SSE_IN_PROGRESS: &str = "IN_PROGRESS";
const SSE_COMPLETED: &str = "COMPLETED";
const SSE_FAILED: &str = "FAILED";
const JOB_SUBMITTED: &str = "SUBMITTED";
const JOB_IN_PROGRESS: &str = "IN_PROGRESS";

// ---------- stored row layouts (plaintext attributes / encrypted secrets) ----------

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DomainAttrs {
    created_at: f64,
    updated_at: f64,
    status: String,
    kms_key_id: String,
    default_watchlist_id: String,
    #[serde(default)]
    sse_update: Option<ServerSideEncryptionUpdateDetails>,
    /// Keyed digests of the CreateDomain ClientToken and request, for idempotency.
    #[serde(default)]
    client_token_digest: Option<String>,
    #[serde(default)]
    request_digest: Option<String>,
    /// Engine settings (issue 5; `lifecycle`); None = the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    engine: Option<lifecycle::EngineSettings>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DomainSecret {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WatchlistAttrs {
    created_at: f64,
    updated_at: f64,
    default: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct WatchlistSecret {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FraudsterAttrs {
    created_at: f64,
    watchlist_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SpeakerAttrs {
    created_at: f64,
    updated_at: f64,
    #[serde(default)]
    last_accessed_at: Option<f64>,
    status: SpeakerStatus,
    /// The voiceprint's training state (issue 5; `lifecycle`). None for speakers
    /// enrolled before it existed or seeded directly: trained, no segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    training: Option<lifecycle::Training>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SpeakerSecret {
    #[serde(default)]
    customer_speaker_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct JobSecret {
    #[serde(default)]
    job_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClientTokenAttrs {
    request_digest: String,
    resource_id: String,
}

/// Deserialise straight from the borrowed value (no clone of the whole tree: list
/// pages decode a row's attributes this way for every summary).
fn decode<T: DeserializeOwned>(v: &Value) -> Result<T> {
    Ok(T::deserialize(v)?)
}

fn encode<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("row layouts serialise")
}

fn job_store_kind(kind: JobKind) -> Kind {
    match kind {
        JobKind::SpeakerEnrollment => Kind::SpeakerEnrollmentJob,
        JobKind::FraudsterRegistration => Kind::FraudsterRegistrationJob,
    }
}

fn job_op_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::SpeakerEnrollment => "StartSpeakerEnrollmentJob",
        JobKind::FraudsterRegistration => "StartFraudsterRegistrationJob",
    }
}

/// Cluster lock name of the service's write lock.
const WRITE_LOCK: &str = "voiceid-write";

/// Held write lock ([`VoiceIdService::lock`]); the cluster lock is released first.
struct WriteGuard<'a> {
    _cluster: voiceprint_store::ClusterLock<'a>,
    _process: MutexGuard<'a, ()>,
}

/// Bounds of one paginated listing.
struct Page {
    op: &'static str,
    kind: Kind,
    default_max: i64,
    max: i64,
}

impl Page {
    /// Voice ID's MaxResults bound is also its default page size.
    const fn new(op: &'static str, kind: Kind, max: i64) -> Page {
        Page {
            op,
            kind,
            default_max: max,
            max,
        }
    }
}

const PAGE_DOMAINS: Page = Page::new("ListDomains", Kind::Domain, 10);
const PAGE_WATCHLISTS: Page = Page::new("ListWatchlists", Kind::Watchlist, 100);
const PAGE_FRAUDSTERS: Page = Page::new("ListFraudsters", Kind::Fraudster, 100);
const PAGE_SPEAKERS: Page = Page::new("ListSpeakers", Kind::Speaker, 100);
const PAGE_SPEAKER_JOBS: Page =
    Page::new("ListSpeakerEnrollmentJobs", Kind::SpeakerEnrollmentJob, 100);
const PAGE_FRAUDSTER_JOBS: Page = Page::new(
    "ListFraudsterRegistrationJobs",
    Kind::FraudsterRegistrationJob,
    100,
);

/// The Voice ID API over a store. Cheap to share behind an `Arc`; every method
/// blocks on the store, so async callers use `spawn_blocking`.
pub struct VoiceIdService {
    store: Arc<dyn Store>,
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
    tokens: TokenCodec,
    runner: Arc<dyn JobRunner>,
    write_lock: Arc<Mutex<()>>,
    /// The speaker model (see `enrollment`); None when the server runs without weights.
    biometrics: Option<Arc<crate::biometrics::Biometrics>>,
    /// The voice-spoofing countermeasure, when configured (see `enrollment`).
    spoof: Option<Arc<dyn crate::sessions::SpoofScorer>>,
    /// Set when a voiceprint may be waiting for background retraining (and at
    /// start, for work a previous process left): `retrain_pending_voiceprints`
    /// scans only then.
    retrain_hint: Arc<std::sync::atomic::AtomicBool>,
    /// Each domain's enrolled speakers as its S-norm cohort (see `cohort`).
    domain_cohorts: Arc<cohort::DomainCohorts>,
}

impl std::fmt::Debug for VoiceIdService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceIdService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl VoiceIdService {
    /// A service over `store`. `token_key` authenticates NextTokens and idempotency
    /// digests; keep it stable across restarts so tokens stay valid.
    pub fn new(store: Arc<dyn Store>, config: ServiceConfig, token_key: &[u8]) -> Self {
        VoiceIdService {
            store,
            config,
            clock: Arc::new(SystemClock),
            tokens: TokenCodec::new(token_key),
            runner: Arc::new(NoJobRunner),
            write_lock: Arc::new(Mutex::new(())),
            biometrics: None,
            spoof: None,
            retrain_hint: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            domain_cohorts: Arc::default(),
        }
    }

    /// A secret for another MAC (e.g. the server's agent-page tokens), derived from
    /// the token key as HMAC-SHA256(token key, `purpose`): stable across restarts and
    /// nodes sharing the key, never the key itself. `purpose` must contain a `/`, so
    /// it can never be the input of a ClientToken or request digest made with the
    /// same key (ClientTokens are `[a-zA-Z0-9-_]`, request digests start with an
    /// operation name).
    pub fn derived_key(&self, purpose: &str) -> Vec<u8> {
        debug_assert!(purpose.contains('/'), "purpose {purpose:?} needs a '/'");
        self.tokens.digest(purpose.as_bytes()).into_bytes()
    }

    /// Replace the clock (tests of expiry rules).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replace the batch-job runner (issue 6 plugs the engine in here).
    pub fn with_job_runner(mut self, runner: Arc<dyn JobRunner>) -> Self {
        self.runner = runner;
        self
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn now(&self) -> f64 {
        self.clock.now()
    }

    /// The write lock: this process's mutex, then the store's cluster lock of the
    /// same name, so read-modify-write cycles serialise across nodes sharing a
    /// database too (a no-op on single-process stores).
    fn lock(&self) -> Result<WriteGuard<'_>> {
        let process = self
            .write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let cluster = self.store.cluster_lock(WRITE_LOCK)?;
        Ok(WriteGuard {
            _cluster: cluster,
            _process: process,
        })
    }

    /// Writes to the store; every write goes through here so that a speaker change
    /// drops the domain's cached cohort (a deleted voiceprint must not linger in memory).
    fn apply(&self, writes: Vec<Write>) -> Result<()> {
        let speaker_domains = cohort::speaker_domains(&writes);
        let result = self.store.apply(writes);
        self.domain_cohorts.invalidate(&speaker_domains);
        Ok(result?)
    }

    /// The ARN of a domain in this server's region/account.
    pub fn domain_arn(&self, domain_id: &str) -> String {
        format!(
            "arn:aws:voiceid:{}:{}:domain/{}",
            self.config.region, self.config.account_id, domain_id
        )
    }

    // ---------- shared helpers ----------

    fn domain_record(&self, domain_id: &str) -> Result<Record> {
        self.store
            .get(Kind::Domain, domain_id, domain_id)?
            .ok_or_else(|| Error::not_found(ResourceType::Domain, "The domain does not exist"))
    }

    fn domain_view(&self, rec: &Record) -> Result<Domain> {
        let a: DomainAttrs = decode(&rec.attributes)?;
        let s: DomainSecret = decode(&rec.sensitive)?;
        Ok(Domain {
            arn: self.domain_arn(&rec.id),
            created_at: a.created_at,
            description: s.description,
            domain_id: rec.id.clone(),
            domain_status: a.status,
            name: s.name,
            server_side_encryption_configuration: ServerSideEncryptionConfiguration {
                kms_key_id: a.kms_key_id,
            },
            server_side_encryption_update_details: a.sse_update,
            updated_at: a.updated_at,
            watchlist_details: WatchlistDetails {
                default_watchlist_id: a.default_watchlist_id,
            },
        })
    }

    fn watchlist_record(&self, domain_id: &str, watchlist_id: &str) -> Result<Record> {
        self.store
            .get(Kind::Watchlist, domain_id, watchlist_id)?
            .ok_or_else(|| {
                Error::not_found(ResourceType::Watchlist, "The watchlist does not exist")
            })
    }

    fn watchlist_view(rec: &Record) -> Result<Watchlist> {
        let a: WatchlistAttrs = decode(&rec.attributes)?;
        let s: WatchlistSecret = decode(&rec.sensitive)?;
        Ok(Watchlist {
            created_at: a.created_at,
            default_watchlist: a.default,
            description: s.description,
            domain_id: rec.domain_id.clone(),
            name: s.name,
            updated_at: a.updated_at,
            watchlist_id: rec.id.clone(),
        })
    }

    fn fraudster_record(&self, domain_id: &str, fraudster_id: &str) -> Result<Record> {
        self.store
            .get(Kind::Fraudster, domain_id, fraudster_id)?
            .ok_or_else(|| {
                Error::not_found(ResourceType::Fraudster, "The fraudster does not exist")
            })
    }

    fn fraudster_view(rec: &Record) -> Result<Fraudster> {
        let a: FraudsterAttrs = decode(&rec.attributes)?;
        Ok(Fraudster {
            created_at: a.created_at,
            domain_id: rec.domain_id.clone(),
            generated_fraudster_id: rec.id.clone(),
            watchlist_ids: a.watchlist_ids,
        })
    }

    /// Find a speaker by either id form.
    fn find_speaker(&self, domain_id: &str, speaker_id: &str) -> Result<Option<Record>> {
        if is_generated_id(speaker_id) {
            Ok(self.store.get(Kind::Speaker, domain_id, speaker_id)?)
        } else {
            Ok(self
                .store
                .get_by_alt_key(Kind::Speaker, domain_id, speaker_id)?)
        }
    }

    fn speaker_record(&self, domain_id: &str, speaker_id: &str) -> Result<Record> {
        self.find_speaker(domain_id, speaker_id)?
            .ok_or_else(|| Error::not_found(ResourceType::Speaker, "The speaker does not exist"))
    }

    /// The speaker as the API reports it; EXPIRED is derived here, at read time,
    /// from LastAccessedAt, so no sweeper has to run for it to become true.
    fn speaker_view(&self, rec: &Record, now: f64) -> Result<Speaker> {
        let a: SpeakerAttrs = decode(&rec.attributes)?;
        let s: SpeakerSecret = decode(&rec.sensitive)?;
        let expired = a.status == SpeakerStatus::Enrolled
            && a.last_accessed_at
                .is_some_and(|t| now - t >= self.config.speaker_expiry_seconds);
        Ok(Speaker {
            created_at: a.created_at,
            customer_speaker_id: s.customer_speaker_id,
            domain_id: rec.domain_id.clone(),
            generated_speaker_id: rec.id.clone(),
            last_accessed_at: a.last_accessed_at,
            status: if expired {
                SpeakerStatus::Expired
            } else {
                a.status
            },
            updated_at: a.updated_at,
        })
    }

    fn job_view(rec: &Record) -> Result<Job> {
        let mut job: Job = decode(&rec.attributes)?;
        let s: JobSecret = decode(&rec.sensitive)?;
        job.job_name = s.job_name;
        Ok(job)
    }

    fn check_max_results(page: &Page, max_results: Option<i64>) -> Result<usize> {
        match max_results {
            None => Ok(page.default_max as usize),
            Some(n) if (1..=page.max).contains(&n) => Ok(n as usize),
            Some(n) => Err(Error::validation(format!(
                "MaxResults must be between 1 and {} for {} (got {n})",
                page.max, page.op
            ))),
        }
    }

    /// One page of `kind` rows in `domain_id` passing `keep`, with the NextToken
    /// for the rest.
    fn page(
        &self,
        page: &Page,
        domain_id: &str,
        filter: Option<&str>,
        max_results: Option<i64>,
        next_token: Option<&str>,
        keep: &dyn Fn(&Record) -> Result<bool>,
    ) -> Result<(Vec<Record>, Option<String>)> {
        let limit = Self::check_max_results(page, max_results)?;
        let now = self.now();
        let mut after = match next_token {
            Some(t) if !t.is_empty() => Some(
                self.tokens
                    .decode(t, page.op, domain_id, filter, now)?
                    .after,
            ),
            _ => None,
        };
        let mut out = Vec::with_capacity(limit);
        let chunk = limit + 1;
        loop {
            // Pages become summaries, which never show voiceprints (and are never
            // written back), so the store may skip decrypting them.
            let batch = self.store.list_without_voiceprints(
                page.kind,
                domain_id,
                after.as_deref(),
                chunk,
            )?;
            let exhausted = batch.len() < chunk;
            after = batch.last().map(|r| r.id.clone());
            // Rows move into the page (no per-row copy of its attribute maps).
            for rec in batch {
                if !keep(&rec)? {
                    continue;
                }
                if out.len() == limit {
                    // One more matching row exists: the page is full and has a successor.
                    let last: &Record = out.last().expect("limit >= 1");
                    let cursor = Cursor {
                        op: page.op.into(),
                        domain: domain_id.into(),
                        filter: filter.map(str::to_owned),
                        after: last.id.clone(),
                        iat: now,
                    };
                    return Ok((out, Some(self.tokens.encode(&cursor))));
                }
                out.push(rec);
            }
            if exhausted {
                return Ok((out, None));
            }
        }
    }

    /// Every row of `kind` in a domain (small sets only: watchlists, fraudsters, jobs).
    fn all(&self, kind: Kind, domain_id: &str) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let batch = self.store.list(kind, domain_id, after.as_deref(), 1000)?;
            let done = batch.len() < 1000;
            after = batch.last().map(|r| r.id.clone());
            out.extend(batch);
            if done {
                return Ok(out);
            }
        }
    }

    fn request_digest<T: Serialize>(&self, op: &str, request: &T) -> String {
        let mut v = encode(request);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("ClientToken");
        }
        self.tokens.digest(format!("{op}\n{v}").as_bytes())
    }

    /// Look up a ClientToken record; `Ok(Some(id))` replays, an error refuses a reuse
    /// with different parameters.
    fn replayed(
        &self,
        domain_id: &str,
        op: &str,
        token: Option<&str>,
        digest: &str,
    ) -> Result<Option<String>> {
        let Some(token) = token else { return Ok(None) };
        let Some(rec) = self
            .store
            .get(Kind::ClientToken, domain_id, &format!("{op}:{token}"))?
        else {
            return Ok(None);
        };
        let a: ClientTokenAttrs = decode(&rec.attributes)?;
        if a.request_digest != digest {
            return Err(idempotency_mismatch());
        }
        Ok(Some(a.resource_id))
    }

    fn client_token_write(
        domain_id: &str,
        op: &str,
        token: &str,
        digest: &str,
        resource_id: &str,
    ) -> Write {
        Write::Put(Record {
            kind: Kind::ClientToken,
            domain_id: domain_id.into(),
            id: format!("{op}:{token}"),
            alt_key: None,
            attributes: encode(&ClientTokenAttrs {
                request_digest: digest.into(),
                resource_id: resource_id.into(),
            }),
            sensitive: json!({}),
            voiceprint: None,
        })
    }

    fn check_kms_key(&self, kms_key_id: &str) -> Result<()> {
        if self.store.has_key(kms_key_id)? {
            Ok(())
        } else {
            Err(Error::validation(
                "ServerSideEncryptionConfiguration.KmsKeyId does not name a key in this server's keyring",
            ))
        }
    }

    fn check_tags(&self, tags: &[Tag]) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for t in tags {
            if t.key.to_ascii_lowercase().starts_with("aws:") {
                return Err(Error::validation(
                    "Tag keys beginning with 'aws:' are reserved",
                ));
            }
            if !seen.insert(t.key.as_str()) {
                return Err(Error::validation(
                    "Tags contains the same key more than once",
                ));
            }
        }
        Ok(())
    }

    // ---------- domains ----------

    pub fn create_domain(&self, req: CreateDomainRequest) -> Result<DomainResponse> {
        let tags = req.tags.clone().unwrap_or_default();
        self.check_tags(&tags)?;
        if tags.len() as u64 > self.config.quotas.tags_per_resource {
            return Err(Error::validation(format!(
                "A domain can have at most {} tags",
                self.config.quotas.tags_per_resource
            )));
        }
        let digest = self.request_digest("CreateDomain", &req);
        let token_digest = req
            .client_token
            .as_deref()
            .map(|t| self.tokens.digest(t.as_bytes()));
        let _guard = self.lock()?;
        // Domains are few (quota 3), so the ClientToken lives on the domain row and
        // a replay is found by scanning them.
        if let Some(td) = &token_digest {
            for rec in self.all(Kind::Domain, "")? {
                let a: DomainAttrs = decode(&rec.attributes)?;
                if a.client_token_digest.as_deref() == Some(td.as_str()) {
                    if a.request_digest.as_deref() != Some(digest.as_str()) {
                        return Err(idempotency_mismatch());
                    }
                    return Ok(DomainResponse {
                        domain: self.domain_view(&rec)?,
                    });
                }
            }
        }
        if self.store.count(Kind::Domain, "")? >= self.config.quotas.domains {
            return Err(Error::ServiceQuotaExceeded(format!(
                "This server allows at most {} domains",
                self.config.quotas.domains
            )));
        }
        let kms_key_id = req.server_side_encryption_configuration.kms_key_id.clone();
        self.check_kms_key(&kms_key_id)?;
        let now = self.now();
        let domain_id = new_id22();
        let watchlist_id = new_id22();
        self.store
            .create_domain_key(&domain_id, Some(&kms_key_id))?;
        let domain = Record {
            kind: Kind::Domain,
            domain_id: domain_id.clone(),
            id: domain_id.clone(),
            alt_key: None,
            attributes: encode(&DomainAttrs {
                created_at: now,
                updated_at: now,
                status: DOMAIN_ACTIVE.into(),
                kms_key_id,
                default_watchlist_id: watchlist_id.clone(),
                sse_update: None,
                client_token_digest: token_digest,
                request_digest: Some(digest),
                engine: None,
            }),
            sensitive: encode(&DomainSecret {
                name: req.name,
                description: req.description,
                tags,
            }),
            voiceprint: None,
        };
        let watchlist = Record {
            kind: Kind::Watchlist,
            domain_id: domain_id.clone(),
            id: watchlist_id,
            alt_key: None,
            attributes: encode(&WatchlistAttrs {
                created_at: now,
                updated_at: now,
                default: true,
            }),
            sensitive: encode(&WatchlistSecret {
                name: DEFAULT_WATCHLIST_NAME.into(),
                description: None,
            }),
            voiceprint: None,
        };
        let view = self.domain_view(&domain)?;
        if let Err(e) = self
            .store
            .apply(vec![Write::Put(domain), Write::Put(watchlist)])
        {
            // Do not leave an orphaned data key behind.
            let _ = self.store.delete_domain(&domain_id);
            return Err(e.into());
        }
        tracing::info!(domain_id = %domain_id, "domain created");
        Ok(DomainResponse { domain: view })
    }

    pub fn describe_domain(&self, req: DomainIdRequest) -> Result<DomainResponse> {
        let rec = self.domain_record(&req.domain_id)?;
        Ok(DomainResponse {
            domain: self.domain_view(&rec)?,
        })
    }

    pub fn delete_domain(&self, req: DomainIdRequest) -> Result<Empty> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        self.store.delete_domain(&req.domain_id)?;
        self.domain_cohorts.invalidate(&[req.domain_id.clone()]);
        tracing::info!(domain_id = %req.domain_id, "domain deleted");
        Ok(Empty {})
    }

    pub fn list_domains(&self, req: ListDomainsRequest) -> Result<ListDomainsResponse> {
        let (rows, next_token) = self.page(
            &PAGE_DOMAINS,
            "",
            None,
            req.max_results,
            req.next_token.as_deref(),
            &|_| Ok(true),
        )?;
        let domain_summaries = rows
            .iter()
            .map(|r| self.domain_view(r))
            .collect::<Result<_>>()?;
        Ok(ListDomainsResponse {
            domain_summaries,
            next_token,
        })
    }

    /// UpdateDomain has "clobber" semantics: an omitted Description is removed.
    /// A new KmsKeyId (or the same one after a FAILED update) starts background
    /// re-encryption; another key change while one is running is a Conflict.
    pub fn update_domain(&self, req: UpdateDomainRequest) -> Result<DomainResponse> {
        let _guard = self.lock()?;
        let mut rec = self.domain_record(&req.domain_id)?;
        let mut a: DomainAttrs = decode(&rec.attributes)?;
        let mut s: DomainSecret = decode(&rec.sensitive)?;
        let new_key = req.server_side_encryption_configuration.kms_key_id;
        let status = a.sse_update.as_ref().and_then(|u| u.update_status.clone());
        let in_progress = status.as_deref() == Some(SSE_IN_PROGRESS);
        let rotate = new_key != a.kms_key_id || status.as_deref() == Some(SSE_FAILED);
        if rotate {
            if in_progress {
                return Err(Error::conflict(
                    ConflictType::DomainLockedFromEncryptionUpdates,
                    "An encryption update is already in progress for this domain; try again when it completes",
                ));
            }
            self.check_kms_key(&new_key)?;
            let old = if new_key != a.kms_key_id {
                Some(a.kms_key_id.clone())
            } else {
                a.sse_update.as_ref().and_then(|u| u.old_kms_key_id.clone())
            };
            a.sse_update = Some(ServerSideEncryptionUpdateDetails {
                message: None,
                old_kms_key_id: old,
                update_status: Some(SSE_IN_PROGRESS.into()),
            });
            a.kms_key_id = new_key.clone();
        }
        s.name = req.name;
        s.description = req.description;
        a.updated_at = self.now();
        rec.attributes = encode(&a);
        rec.sensitive = encode(&s);
        let view = self.domain_view(&rec)?;
        self.apply(vec![Write::Put(rec)])?;
        if rotate {
            self.spawn_rotation(req.domain_id, new_key);
        }
        Ok(DomainResponse { domain: view })
    }

    /// Restart re-encryptions that a previous process left IN_PROGRESS (call once
    /// at start-up).
    pub fn resume_background_work(&self) -> Result<()> {
        for rec in self.all(Kind::Domain, "")? {
            let a: DomainAttrs = decode(&rec.attributes)?;
            if a.sse_update
                .as_ref()
                .and_then(|u| u.update_status.as_deref())
                == Some(SSE_IN_PROGRESS)
            {
                tracing::info!(domain_id = %rec.id, "resuming interrupted encryption update");
                self.spawn_rotation(rec.id.clone(), a.kms_key_id.clone());
            }
        }
        Ok(())
    }

    fn spawn_rotation(&self, domain_id: String, new_key: String) {
        let store = self.store.clone();
        let lock = self.write_lock.clone();
        let spawned = std::thread::Builder::new().name("voiceid-rekey".into()).spawn(move || {
            let result = store.rotate_domain_key(&domain_id, Some(&new_key));
            if let Err(e) = &result {
                tracing::warn!(domain_id = %domain_id, error = %e, "encryption update failed");
            }
            let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let _cluster = store.cluster_lock(WRITE_LOCK);
            let finish = || -> Result<()> {
                let Some(mut rec) = store.get(Kind::Domain, &domain_id, &domain_id)? else { return Ok(()) };
                let mut a: DomainAttrs = decode(&rec.attributes)?;
                let details = a.sse_update.get_or_insert(ServerSideEncryptionUpdateDetails {
                    message: None,
                    old_kms_key_id: None,
                    update_status: None,
                });
                match &result {
                    Ok(()) => {
                        details.update_status = Some(SSE_COMPLETED.into());
                        details.message = None;
                    }
                    Err(e) => {
                        details.update_status = Some(SSE_FAILED.into());
                        details.message = Some(match e {
                            voiceprint_store::StoreError::UnknownKey(_) => {
                                "The new KMS key is not in the keyring; restore it and call UpdateDomain again".into()
                            }
                            _ => "Re-encryption failed; call UpdateDomain again with the same configuration".into(),
                        });
                    }
                }
                rec.attributes = encode(&a);
                store.apply(vec![Write::Put(rec)])?;
                Ok(())
            };
            if let Err(e) = finish() {
                tracing::error!(domain_id = %domain_id, error = %e, "could not record encryption update result");
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start re-encryption thread");
        }
    }

    // ---------- watchlists ----------

    pub fn create_watchlist(&self, req: CreateWatchlistRequest) -> Result<WatchlistResponse> {
        let digest = self.request_digest("CreateWatchlist", &req);
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        if let Some(id) = self.replayed(
            &req.domain_id,
            "CreateWatchlist",
            req.client_token.as_deref(),
            &digest,
        )? {
            if let Some(rec) = self.store.get(Kind::Watchlist, &req.domain_id, &id)? {
                return Ok(WatchlistResponse {
                    watchlist: Self::watchlist_view(&rec)?,
                });
            }
        }
        if self.store.count(Kind::Watchlist, &req.domain_id)?
            >= self.config.quotas.watchlists_per_domain
        {
            return Err(Error::ServiceQuotaExceeded(format!(
                "A domain can have at most {} watchlists, including the default one",
                self.config.quotas.watchlists_per_domain
            )));
        }
        let now = self.now();
        let rec = Record {
            kind: Kind::Watchlist,
            domain_id: req.domain_id.clone(),
            id: new_id22(),
            alt_key: None,
            attributes: encode(&WatchlistAttrs {
                created_at: now,
                updated_at: now,
                default: false,
            }),
            sensitive: encode(&WatchlistSecret {
                name: req.name,
                description: req.description,
            }),
            voiceprint: None,
        };
        let mut writes = Vec::new();
        if let Some(t) = req.client_token.as_deref() {
            writes.push(Self::client_token_write(
                &req.domain_id,
                "CreateWatchlist",
                t,
                &digest,
                &rec.id,
            ));
        }
        let view = Self::watchlist_view(&rec)?;
        writes.push(Write::Put(rec));
        self.apply(writes)?;
        Ok(WatchlistResponse { watchlist: view })
    }

    pub fn describe_watchlist(&self, req: WatchlistRequest) -> Result<WatchlistResponse> {
        self.domain_record(&req.domain_id)?;
        let rec = self.watchlist_record(&req.domain_id, &req.watchlist_id)?;
        Ok(WatchlistResponse {
            watchlist: Self::watchlist_view(&rec)?,
        })
    }

    pub fn update_watchlist(&self, req: UpdateWatchlistRequest) -> Result<WatchlistResponse> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        let mut rec = self.watchlist_record(&req.domain_id, &req.watchlist_id)?;
        let mut a: WatchlistAttrs = decode(&rec.attributes)?;
        if a.default {
            return Err(Error::validation("The default watchlist cannot be updated"));
        }
        let mut s: WatchlistSecret = decode(&rec.sensitive)?;
        if let Some(name) = req.name {
            s.name = name;
        }
        if let Some(d) = req.description {
            s.description = Some(d);
        }
        a.updated_at = self.now();
        rec.attributes = encode(&a);
        rec.sensitive = encode(&s);
        let view = Self::watchlist_view(&rec)?;
        self.apply(vec![Write::Put(rec)])?;
        Ok(WatchlistResponse { watchlist: view })
    }

    pub fn delete_watchlist(&self, req: WatchlistRequest) -> Result<Empty> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        let rec = self.watchlist_record(&req.domain_id, &req.watchlist_id)?;
        let a: WatchlistAttrs = decode(&rec.attributes)?;
        if a.default {
            return Err(Error::validation("The default watchlist cannot be deleted"));
        }
        for f in self.all(Kind::Fraudster, &req.domain_id)? {
            let fa: FraudsterAttrs = decode(&f.attributes)?;
            if fa.watchlist_ids.contains(&req.watchlist_id) {
                return Err(Error::conflict(
                    ConflictType::CannotDeleteNonEmptyWatchlist,
                    "The watchlist still has fraudsters; disassociate them first",
                ));
            }
        }
        self.apply(vec![Write::Delete {
            kind: Kind::Watchlist,
            domain_id: req.domain_id,
            id: req.watchlist_id,
        }])?;
        Ok(Empty {})
    }

    pub fn list_watchlists(&self, req: ListRequest) -> Result<ListWatchlistsResponse> {
        self.domain_record(&req.domain_id)?;
        let (rows, next_token) = self.page(
            &PAGE_WATCHLISTS,
            &req.domain_id,
            None,
            req.max_results,
            req.next_token.as_deref(),
            &|_| Ok(true),
        )?;
        let watchlist_summaries = rows
            .iter()
            .map(Self::watchlist_view)
            .collect::<Result<_>>()?;
        Ok(ListWatchlistsResponse {
            watchlist_summaries,
            next_token,
        })
    }

    // ---------- fraudsters ----------

    pub fn describe_fraudster(&self, req: FraudsterRequest) -> Result<FraudsterResponse> {
        self.domain_record(&req.domain_id)?;
        let rec = self.fraudster_record(&req.domain_id, &req.fraudster_id)?;
        Ok(FraudsterResponse {
            fraudster: Self::fraudster_view(&rec)?,
        })
    }

    pub fn delete_fraudster(&self, req: FraudsterRequest) -> Result<Empty> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        self.fraudster_record(&req.domain_id, &req.fraudster_id)?;
        self.apply(vec![Write::Delete {
            kind: Kind::Fraudster,
            domain_id: req.domain_id,
            id: req.fraudster_id,
        }])?;
        Ok(Empty {})
    }

    pub fn associate_fraudster(&self, req: FraudsterWatchlistRequest) -> Result<FraudsterResponse> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        let mut rec = self.fraudster_record(&req.domain_id, &req.fraudster_id)?;
        self.watchlist_record(&req.domain_id, &req.watchlist_id)?;
        let mut a: FraudsterAttrs = decode(&rec.attributes)?;
        if !a.watchlist_ids.contains(&req.watchlist_id) {
            let members = self.count_watchlist_members(&req.domain_id, &req.watchlist_id)?;
            if members >= self.config.quotas.fraudsters_per_watchlist {
                return Err(Error::ServiceQuotaExceeded(format!(
                    "A watchlist can hold at most {} fraudsters",
                    self.config.quotas.fraudsters_per_watchlist
                )));
            }
            a.watchlist_ids.push(req.watchlist_id);
            rec.attributes = encode(&a);
            self.apply(vec![Write::Put(rec.clone())])?;
        }
        Ok(FraudsterResponse {
            fraudster: Self::fraudster_view(&rec)?,
        })
    }

    fn count_watchlist_members(&self, domain_id: &str, watchlist_id: &str) -> Result<u64> {
        let mut n = 0;
        for f in self.all(Kind::Fraudster, domain_id)? {
            let fa: FraudsterAttrs = decode(&f.attributes)?;
            if fa.watchlist_ids.iter().any(|w| w == watchlist_id) {
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn disassociate_fraudster(
        &self,
        req: FraudsterWatchlistRequest,
    ) -> Result<FraudsterResponse> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        let mut rec = self.fraudster_record(&req.domain_id, &req.fraudster_id)?;
        self.watchlist_record(&req.domain_id, &req.watchlist_id)?;
        let mut a: FraudsterAttrs = decode(&rec.attributes)?;
        if !a.watchlist_ids.contains(&req.watchlist_id) {
            return Err(Error::validation(
                "The fraudster is not associated with this watchlist",
            ));
        }
        if a.watchlist_ids.len() == 1 {
            return Err(Error::conflict(
                ConflictType::FraudsterMustBelongToAtLeastOneWatchlist,
                "A fraudster must belong to at least one watchlist; use DeleteFraudster to remove it",
            ));
        }
        a.watchlist_ids.retain(|w| *w != req.watchlist_id);
        rec.attributes = encode(&a);
        self.apply(vec![Write::Put(rec.clone())])?;
        Ok(FraudsterResponse {
            fraudster: Self::fraudster_view(&rec)?,
        })
    }

    pub fn list_fraudsters(&self, req: ListRequest) -> Result<ListFraudstersResponse> {
        self.domain_record(&req.domain_id)?;
        if let Some(w) = &req.watchlist_id {
            self.watchlist_record(&req.domain_id, w)?;
        }
        let filter = req.watchlist_id.clone();
        let keep = |r: &Record| -> Result<bool> {
            match &filter {
                None => Ok(true),
                Some(w) => Ok(decode::<FraudsterAttrs>(&r.attributes)?
                    .watchlist_ids
                    .contains(w)),
            }
        };
        let (rows, next_token) = self.page(
            &PAGE_FRAUDSTERS,
            &req.domain_id,
            filter.as_deref(),
            req.max_results,
            req.next_token.as_deref(),
            &keep,
        )?;
        let fraudster_summaries = rows
            .iter()
            .map(Self::fraudster_view)
            .collect::<Result<_>>()?;
        Ok(ListFraudstersResponse {
            fraudster_summaries,
            next_token,
        })
    }

    // ---------- speakers ----------

    pub fn describe_speaker(&self, req: SpeakerRequest) -> Result<SpeakerResponse> {
        self.domain_record(&req.domain_id)?;
        let rec = self.speaker_record(&req.domain_id, &req.speaker_id)?;
        Ok(SpeakerResponse {
            speaker: self.speaker_view(&rec, self.now())?,
        })
    }

    /// Deletes the speaker row and, with it, its voiceprint (for real: the store
    /// leaves no recoverable bytes).
    pub fn delete_speaker(&self, req: SpeakerRequest) -> Result<Empty> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        let rec = self.speaker_record(&req.domain_id, &req.speaker_id)?;
        let mut writes = self.segment_deletes(&rec.domain_id, &rec.id)?;
        writes.push(Write::Delete {
            kind: Kind::Speaker,
            domain_id: rec.domain_id,
            id: rec.id,
        });
        self.apply(writes)?;
        Ok(Empty {})
    }

    /// Opts a speaker out, removing its voiceprint; an unknown CustomerSpeakerId
    /// gets a new OPTED_OUT record, as Voice ID does.
    pub fn opt_out_speaker(&self, req: SpeakerRequest) -> Result<SpeakerResponse> {
        let _guard = self.lock()?;
        self.domain_record(&req.domain_id)?;
        let now = self.now();
        let mut writes = Vec::new();
        let rec = match self.find_speaker(&req.domain_id, &req.speaker_id)? {
            Some(mut rec) => {
                let mut a: SpeakerAttrs = decode(&rec.attributes)?;
                a.status = SpeakerStatus::OptedOut;
                a.updated_at = now;
                a.training = None;
                rec.attributes = encode(&a);
                rec.voiceprint = None;
                // Opting out removes every trace of the voice, training segments too.
                writes = self.segment_deletes(&rec.domain_id, &rec.id)?;
                rec
            }
            None if is_generated_id(&req.speaker_id) => {
                return Err(Error::not_found(
                    ResourceType::Speaker,
                    "The speaker does not exist",
                ));
            }
            None => {
                self.check_speaker_quota(&req.domain_id, 1)?;
                Record {
                    kind: Kind::Speaker,
                    domain_id: req.domain_id.clone(),
                    id: new_generated_id(),
                    alt_key: Some(req.speaker_id.clone()),
                    attributes: encode(&SpeakerAttrs {
                        created_at: now,
                        updated_at: now,
                        last_accessed_at: None,
                        status: SpeakerStatus::OptedOut,
                        training: None,
                    }),
                    sensitive: encode(&SpeakerSecret {
                        customer_speaker_id: Some(req.speaker_id.clone()),
                    }),
                    voiceprint: None,
                }
            }
        };
        let view = self.speaker_view(&rec, now)?;
        writes.push(Write::Put(rec));
        self.apply(writes)?;
        Ok(SpeakerResponse { speaker: view })
    }

    fn check_speaker_quota(&self, domain_id: &str, adding: u64) -> Result<()> {
        if self.store.count(Kind::Speaker, domain_id)? + adding
            > self.config.quotas.speakers_per_domain
        {
            return Err(Error::ServiceQuotaExceeded(format!(
                "A domain can have at most {} speakers",
                self.config.quotas.speakers_per_domain
            )));
        }
        Ok(())
    }

    pub fn list_speakers(&self, req: ListRequest) -> Result<ListSpeakersResponse> {
        self.domain_record(&req.domain_id)?;
        let (rows, next_token) = self.page(
            &PAGE_SPEAKERS,
            &req.domain_id,
            None,
            req.max_results,
            req.next_token.as_deref(),
            &|_| Ok(true),
        )?;
        let now = self.now();
        let speaker_summaries = rows
            .iter()
            .map(|r| self.speaker_view(r, now))
            .collect::<Result<_>>()?;
        Ok(ListSpeakersResponse {
            speaker_summaries,
            next_token,
        })
    }

    // ---------- batch jobs ----------

    fn check_watchlists(&self, domain_id: &str, ids: Option<&Vec<String>>) -> Result<()> {
        for w in ids.into_iter().flatten() {
            self.watchlist_record(domain_id, w)?;
        }
        Ok(())
    }

    fn start_job(
        &self,
        kind: JobKind,
        domain_id: &str,
        client_token: Option<&str>,
        digest: &str,
        build: impl FnOnce(String, &DomainAttrs) -> Result<Job>,
    ) -> Result<JobResponse> {
        let op = job_op_name(kind);
        let store_kind = job_store_kind(kind);
        let _guard = self.lock()?;
        let domain = self.domain_record(domain_id)?;
        let da: DomainAttrs = decode(&domain.attributes)?;
        if let Some(id) = self.replayed(domain_id, op, client_token, digest)? {
            if let Some(rec) = self.store.get(store_kind, domain_id, &id)? {
                return Ok(JobResponse {
                    job: Self::job_view(&rec)?,
                });
            }
        }
        let quota = match kind {
            JobKind::SpeakerEnrollment => {
                self.config.quotas.active_speaker_enrollment_jobs_per_domain
            }
            JobKind::FraudsterRegistration => {
                self.config
                    .quotas
                    .active_fraudster_registration_jobs_per_domain
            }
        };
        let mut active = 0;
        for rec in self.all(store_kind, domain_id)? {
            let j: Job = decode(&rec.attributes)?;
            if j.job_status == JOB_SUBMITTED || j.job_status == JOB_IN_PROGRESS {
                active += 1;
            }
        }
        if active >= quota {
            return Err(Error::ServiceQuotaExceeded(format!(
                "A domain can have at most {quota} active jobs of this kind"
            )));
        }
        let job_id = new_id22();
        let mut job = build(job_id.clone(), &da)?;
        let secret = JobSecret {
            job_name: job.job_name.take(),
        };
        let rec = Record {
            kind: store_kind,
            domain_id: domain_id.into(),
            id: job_id.clone(),
            alt_key: None,
            attributes: encode(&job),
            sensitive: encode(&secret),
            voiceprint: None,
        };
        let mut writes = Vec::new();
        if let Some(t) = client_token {
            writes.push(Self::client_token_write(domain_id, op, t, digest, &job_id));
        }
        writes.push(Write::Put(rec));
        self.apply(writes)?;
        job.job_name = secret.job_name;
        self.runner.submit(JobRef {
            kind,
            domain_id: domain_id.into(),
            job_id,
        });
        Ok(JobResponse { job })
    }

    pub fn start_speaker_enrollment_job(
        &self,
        req: StartSpeakerEnrollmentJobRequest,
    ) -> Result<JobResponse> {
        let digest = self.request_digest("StartSpeakerEnrollmentJob", &req);
        let fraud_watchlists = req
            .enrollment_config
            .as_ref()
            .and_then(|c| c.fraud_detection_config.as_ref())
            .and_then(|f| f.watchlist_ids.clone());
        let now = self.now();
        self.start_job(
            JobKind::SpeakerEnrollment,
            &req.domain_id.clone(),
            req.client_token.clone().as_deref(),
            &digest,
            |job_id, domain| {
                self.check_watchlists(&req.domain_id, fraud_watchlists.as_ref())?;
                let given = req.enrollment_config.unwrap_or(EnrollmentConfig {
                    existing_enrollment_action: None,
                    fraud_detection_config: None,
                });
                let fraud =
                    given
                        .fraud_detection_config
                        .unwrap_or(EnrollmentJobFraudDetectionConfig {
                            fraud_detection_action: None,
                            risk_threshold: None,
                            watchlist_ids: None,
                        });
                // Defaults as documented: SKIP, FAIL, threshold 50, the default watchlist.
                let enrollment_config = EnrollmentConfig {
                    existing_enrollment_action: Some(
                        given
                            .existing_enrollment_action
                            .unwrap_or_else(|| "SKIP".into()),
                    ),
                    fraud_detection_config: Some(EnrollmentJobFraudDetectionConfig {
                        fraud_detection_action: Some(
                            fraud
                                .fraud_detection_action
                                .unwrap_or_else(|| "FAIL".into()),
                        ),
                        risk_threshold: Some(fraud.risk_threshold.unwrap_or(50)),
                        watchlist_ids: Some(
                            fraud
                                .watchlist_ids
                                .unwrap_or_else(|| vec![domain.default_watchlist_id.clone()]),
                        ),
                    }),
                };
                Ok(Job {
                    created_at: now,
                    data_access_role_arn: req.data_access_role_arn,
                    domain_id: req.domain_id.clone(),
                    ended_at: None,
                    enrollment_config: Some(enrollment_config),
                    failure_details: None,
                    input_data_config: req.input_data_config,
                    job_id,
                    job_name: req.job_name,
                    job_progress: JobProgress {
                        percent_complete: 0,
                    },
                    job_status: JOB_SUBMITTED.into(),
                    output_data_config: req.output_data_config,
                    registration_config: None,
                })
            },
        )
    }

    pub fn start_fraudster_registration_job(
        &self,
        req: StartFraudsterRegistrationJobRequest,
    ) -> Result<JobResponse> {
        let digest = self.request_digest("StartFraudsterRegistrationJob", &req);
        let watchlists = req
            .registration_config
            .as_ref()
            .and_then(|c| c.watchlist_ids.clone());
        let now = self.now();
        self.start_job(
            JobKind::FraudsterRegistration,
            &req.domain_id.clone(),
            req.client_token.clone().as_deref(),
            &digest,
            |job_id, domain| {
                self.check_watchlists(&req.domain_id, watchlists.as_ref())?;
                let given = req.registration_config.unwrap_or(RegistrationConfig {
                    duplicate_registration_action: None,
                    fraudster_similarity_threshold: None,
                    watchlist_ids: None,
                });
                let registration_config = RegistrationConfig {
                    duplicate_registration_action: Some(
                        given
                            .duplicate_registration_action
                            .unwrap_or_else(|| "SKIP".into()),
                    ),
                    fraudster_similarity_threshold: given.fraudster_similarity_threshold,
                    watchlist_ids: Some(
                        given
                            .watchlist_ids
                            .unwrap_or_else(|| vec![domain.default_watchlist_id.clone()]),
                    ),
                };
                Ok(Job {
                    created_at: now,
                    data_access_role_arn: req.data_access_role_arn,
                    domain_id: req.domain_id.clone(),
                    ended_at: None,
                    enrollment_config: None,
                    failure_details: None,
                    input_data_config: req.input_data_config,
                    job_id,
                    job_name: req.job_name,
                    job_progress: JobProgress {
                        percent_complete: 0,
                    },
                    job_status: JOB_SUBMITTED.into(),
                    output_data_config: req.output_data_config,
                    registration_config: Some(registration_config),
                })
            },
        )
    }

    fn describe_job(&self, kind: JobKind, req: JobRequest) -> Result<JobResponse> {
        self.domain_record(&req.domain_id)?;
        let rec = self
            .store
            .get(job_store_kind(kind), &req.domain_id, &req.job_id)?
            .ok_or_else(|| Error::not_found(ResourceType::BatchJob, "The job does not exist"))?;
        Ok(JobResponse {
            job: Self::job_view(&rec)?,
        })
    }

    pub fn describe_speaker_enrollment_job(&self, req: JobRequest) -> Result<JobResponse> {
        self.describe_job(JobKind::SpeakerEnrollment, req)
    }

    pub fn describe_fraudster_registration_job(&self, req: JobRequest) -> Result<JobResponse> {
        self.describe_job(JobKind::FraudsterRegistration, req)
    }

    fn list_jobs(&self, kind: JobKind, req: ListRequest) -> Result<ListJobsResponse> {
        self.domain_record(&req.domain_id)?;
        let page = match kind {
            JobKind::SpeakerEnrollment => &PAGE_SPEAKER_JOBS,
            JobKind::FraudsterRegistration => &PAGE_FRAUDSTER_JOBS,
        };
        let filter = req.job_status.clone();
        let keep = |r: &Record| -> Result<bool> {
            match &filter {
                None => Ok(true),
                Some(s) => Ok(decode::<Job>(&r.attributes)?.job_status == *s),
            }
        };
        let (rows, next_token) = self.page(
            page,
            &req.domain_id,
            filter.as_deref(),
            req.max_results,
            req.next_token.as_deref(),
            &keep,
        )?;
        let job_summaries = rows
            .iter()
            .map(|r| Self::job_view(r).map(|j| JobSummary::from(&j)))
            .collect::<Result<_>>()?;
        Ok(ListJobsResponse {
            job_summaries,
            next_token,
        })
    }

    pub fn list_speaker_enrollment_jobs(&self, req: ListRequest) -> Result<ListJobsResponse> {
        self.list_jobs(JobKind::SpeakerEnrollment, req)
    }

    pub fn list_fraudster_registration_jobs(&self, req: ListRequest) -> Result<ListJobsResponse> {
        self.list_jobs(JobKind::FraudsterRegistration, req)
    }

    // ---------- sessions ----------

    /// EvaluateSession: the session's cached or newly computed results (see
    /// `crate::sessions`, which owns session rows).
    pub fn evaluate_session(&self, req: EvaluateSessionRequest) -> Result<EvaluateSessionResponse> {
        self.evaluate_session_results(req)
    }

    // ---------- tags ----------

    fn domain_from_arn(&self, arn: &str) -> Result<Record> {
        let prefix = format!(
            "arn:aws:voiceid:{}:{}:domain/",
            self.config.region, self.config.account_id
        );
        let not_found = || {
            Error::not_found(
                ResourceType::Domain,
                "No domain has this ARN on this server",
            )
        };
        let id = arn.strip_prefix(&prefix).ok_or_else(not_found)?;
        self.store.get(Kind::Domain, id, id)?.ok_or_else(not_found)
    }

    pub fn tag_resource(&self, req: TagResourceRequest) -> Result<Empty> {
        self.check_tags(&req.tags)?;
        let _guard = self.lock()?;
        let mut rec = self.domain_from_arn(&req.resource_arn)?;
        let mut s: DomainSecret = decode(&rec.sensitive)?;
        for t in req.tags {
            match s.tags.iter_mut().find(|x| x.key == t.key) {
                Some(existing) => existing.value = t.value,
                None => s.tags.push(t),
            }
        }
        if s.tags.len() as u64 > self.config.quotas.tags_per_resource {
            return Err(Error::validation(format!(
                "A domain can have at most {} tags",
                self.config.quotas.tags_per_resource
            )));
        }
        rec.sensitive = encode(&s);
        self.apply(vec![Write::Put(rec)])?;
        Ok(Empty {})
    }

    pub fn untag_resource(&self, req: UntagResourceRequest) -> Result<Empty> {
        let _guard = self.lock()?;
        let mut rec = self.domain_from_arn(&req.resource_arn)?;
        let mut s: DomainSecret = decode(&rec.sensitive)?;
        s.tags.retain(|t| !req.tag_keys.contains(&t.key));
        rec.sensitive = encode(&s);
        self.apply(vec![Write::Put(rec)])?;
        Ok(Empty {})
    }

    pub fn list_tags_for_resource(
        &self,
        req: ResourceArnRequest,
    ) -> Result<ListTagsForResourceResponse> {
        let rec = self.domain_from_arn(&req.resource_arn)?;
        let s: DomainSecret = decode(&rec.sensitive)?;
        Ok(ListTagsForResourceResponse { tags: s.tags })
    }

    // ---------- administration (not part of the Voice ID API) ----------

    /// Store ENROLLED speakers with their voiceprints directly, bypassing sessions
    /// and jobs: bulk seeding for benchmarks and tests. `last_accessed_at = None`
    /// means now. Returns the generated speaker ids, in input order.
    pub fn admin_put_speakers(
        &self,
        domain_id: &str,
        speakers: Vec<(String, Vec<u8>)>,
        last_accessed_at: Option<f64>,
    ) -> Result<Vec<String>> {
        let _guard = self.lock()?;
        self.domain_record(domain_id)?;
        self.check_speaker_quota(domain_id, speakers.len() as u64)?;
        let now = self.now();
        let mut ids = Vec::with_capacity(speakers.len());
        let mut writes = Vec::with_capacity(speakers.len());
        for (customer_id, voiceprint) in speakers {
            if !crate::ids::is_customer_speaker_id(&customer_id) {
                return Err(Error::validation(
                    "CustomerSpeakerId does not match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$",
                ));
            }
            if self
                .store
                .get_by_alt_key(Kind::Speaker, domain_id, &customer_id)?
                .is_some()
            {
                return Err(Error::validation(
                    "A speaker with this CustomerSpeakerId already exists",
                ));
            }
            let id = new_generated_id();
            writes.push(Write::Put(Record {
                kind: Kind::Speaker,
                domain_id: domain_id.into(),
                id: id.clone(),
                alt_key: Some(customer_id.clone()),
                attributes: encode(&SpeakerAttrs {
                    created_at: now,
                    updated_at: now,
                    last_accessed_at: Some(last_accessed_at.unwrap_or(now)),
                    status: SpeakerStatus::Enrolled,
                    training: None,
                }),
                sensitive: encode(&SpeakerSecret {
                    customer_speaker_id: Some(customer_id),
                }),
                voiceprint: Some(voiceprint),
            }));
            ids.push(id);
        }
        self.apply(writes)?;
        Ok(ids)
    }

    /// Store a fraudster with its voiceprint in the given watchlists (default
    /// watchlist when empty): seeding until registration jobs run (issue 6).
    pub fn admin_put_fraudster(
        &self,
        domain_id: &str,
        watchlist_ids: Vec<String>,
        voiceprint: Vec<u8>,
    ) -> Result<String> {
        let _guard = self.lock()?;
        let domain = self.domain_record(domain_id)?;
        let da: DomainAttrs = decode(&domain.attributes)?;
        let watchlist_ids = if watchlist_ids.is_empty() {
            vec![da.default_watchlist_id]
        } else {
            watchlist_ids
        };
        for w in &watchlist_ids {
            self.watchlist_record(domain_id, w)?;
            if self.count_watchlist_members(domain_id, w)?
                >= self.config.quotas.fraudsters_per_watchlist
            {
                return Err(Error::ServiceQuotaExceeded("The watchlist is full".into()));
            }
        }
        let id = new_generated_id();
        self.apply(vec![Write::Put(Record {
            kind: Kind::Fraudster,
            domain_id: domain_id.into(),
            id: id.clone(),
            alt_key: None,
            attributes: encode(&FraudsterAttrs {
                created_at: self.now(),
                watchlist_ids,
            }),
            sensitive: json!({}),
            voiceprint: Some(voiceprint),
        })])?;
        Ok(id)
    }
}

fn idempotency_mismatch() -> Error {
    Error::validation(
        "ClientToken was already used with a different request; use a new ClientToken",
    )
}
