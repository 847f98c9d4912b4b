//! voiceprint-store: durable, encrypted rows for the Voice ID domain.
//!
//! The store knows rows, not rules: it persists [`Record`]s grouped by domain and
//! kind, encrypts the sensitive parts under a per-domain data key (AES-256-GCM,
//! wrapped by a master key from the local keyring), and deletes for real. All Voice
//! ID semantics (statuses, watchlist rules, validation) live in `voiceprint-voiceid`.
//!
//! Key decision: one small trait ([`Store`]) that SQLite implements now and
//! PostgreSQL later; every write is durable when the call returns.
//!
//! Implementations: [`SqliteStore`] (see [`sqlite`] for durability, real
//! deletion, encryption, group commit and crash-safe key rotation) and
//! [`PostgresStore`] (several nodes over one PostgreSQL database; see [`pg`]),
//! both sealing rows identically (`rows.rs`) under master keys from a [`Keyring`]
//! (file or `VOICEPRINT_MASTER_KEY[_FILE]`; see [`keyring`]).
//!
//! What it does not do: Voice ID rules; several processes writing one data
//! directory (one server owns it); picking up keys added to the keyring file while
//! running (restart after adding one).

mod crypto;
pub mod keyring;
pub mod pg;
mod rows;
pub mod sqlite;

pub use keyring::{
    default_key_from_env, Keyring, MasterKey, DEFAULT_KEY, MASTER_KEY_ENV, MASTER_KEY_FILE_ENV,
};
pub use pg::PostgresStore;
pub use sqlite::{KeyGeneration, SqliteStore, DB_FILE, ROTATE_BATCH};

/// What kind of row a [`Record`] is. Ids are unique per (domain, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The domain itself: `domain_id == id`.
    Domain,
    Watchlist,
    Speaker,
    Fraudster,
    SpeakerEnrollmentJob,
    FraudsterRegistrationJob,
    /// Live call sessions (issue 8).
    Session,
    /// Idempotency records for ClientToken: id = `"<operation>:<token>"`.
    ClientToken,
    /// One call's contribution to a speaker's voiceprint (issue 5): id =
    /// `"<GeneratedSpeakerId>#<id>"`, so a speaker's segments list together.
    TrainingSegment,
}

/// A held cluster-wide lock ([`Store::cluster_lock`]); released on drop.
pub struct ClusterLock<'a> {
    _held: Option<Box<dyn Send + 'a>>,
}

impl<'a> ClusterLock<'a> {
    /// No lock to hold (single-process backends).
    pub fn none() -> Self {
        ClusterLock { _held: None }
    }

    /// Holds `guard` (whose drop releases the lock) until this is dropped.
    pub fn holding(guard: impl Send + 'a) -> Self {
        ClusterLock {
            _held: Some(Box::new(guard)),
        }
    }
}

impl std::fmt::Debug for ClusterLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLock")
            .field("held", &self._held.is_some())
            .finish()
    }
}

/// One stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: Kind,
    pub domain_id: String,
    pub id: String,
    /// Optional second unique key within (domain, kind), e.g. CustomerSpeakerId for
    /// speakers. Stored as a keyed hash (HMAC under the domain key) so the plaintext
    /// never sits on disk, yet it can still be looked up exactly.
    pub alt_key: Option<String>,
    /// Non-sensitive attributes, stored as plaintext JSON (statuses, timestamps, ids).
    pub attributes: serde_json::Value,
    /// Sensitive attributes (names, descriptions, customer ids): JSON encrypted at
    /// rest under the domain's data key.
    pub sensitive: serde_json::Value,
    /// The voiceprint (serialised embedding), encrypted at rest; `None` when absent.
    pub voiceprint: Option<Vec<u8>>,
}

/// One write inside an atomic [`Store::apply`] batch.
#[derive(Debug, Clone)]
pub enum Write {
    Put(Record),
    Delete {
        kind: Kind,
        domain_id: String,
        id: String,
    },
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("encryption error: {0}")]
    Crypto(String),
    #[error("no key named {0} in the keyring")]
    UnknownKey(String),
    /// The keyring file or a master key given by the environment is unusable.
    #[error("keyring: {0}")]
    Keyring(String),
    #[error("domain {0} has no data key")]
    NoDomainKey(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Persistence for voiceprint. Implementations are cheap to share (`Arc<dyn Store>`)
/// and safe to call from any thread; calls block, so async callers use
/// `spawn_blocking`.
pub trait Store: Send + Sync + 'static {
    /// Create the domain's data key, wrapped by keyring key `kms_key_id` (None = the
    /// default master key). Must be called before the domain's records are written.
    fn create_domain_key(&self, domain_id: &str, kms_key_id: Option<&str>) -> Result<()>;
    /// Re-wrap/re-encrypt the domain's data under another keyring key. Runs to
    /// completion in the caller's thread; callers run it in the background and
    /// report progress as ServerSideEncryptionUpdateDetails.
    fn rotate_domain_key(&self, domain_id: &str, new_kms_key_id: Option<&str>) -> Result<()>;
    /// Whether `kms_key_id` names a key in the local keyring.
    fn has_key(&self, kms_key_id: &str) -> Result<bool>;

    fn get(&self, kind: Kind, domain_id: &str, id: &str) -> Result<Option<Record>>;
    fn get_by_alt_key(&self, kind: Kind, domain_id: &str, alt_key: &str) -> Result<Option<Record>>;
    /// Rows of one kind in a domain ordered by id, strictly after `after_id`.
    /// For `Kind::Domain` pass `domain_id = ""` to list every domain.
    fn list(
        &self,
        kind: Kind,
        domain_id: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>>;
    /// As [`Store::list`], but every `voiceprint` is `None`, so implementations
    /// may skip reading and decrypting them: for listings that never show
    /// voiceprints. Never write such records back (the voiceprint would be lost).
    fn list_without_voiceprints(
        &self,
        kind: Kind,
        domain_id: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let mut rows = self.list(kind, domain_id, after_id, limit)?;
        for r in &mut rows {
            r.voiceprint = None;
        }
        Ok(rows)
    }
    fn count(&self, kind: Kind, domain_id: &str) -> Result<u64>;
    /// Apply writes atomically and durably (fsync'd on return).
    fn apply(&self, writes: Vec<Write>) -> Result<()>;
    /// Delete a domain, every record in it and its data key, for real (no
    /// recoverable bytes left in the database files).
    fn delete_domain(&self, domain_id: &str) -> Result<()>;
    /// Takes the cluster-wide lock named `name` until the guard drops, so
    /// read-modify-write cycles of several nodes sharing the database serialise.
    /// Single-process backends have nothing to add to the process's own mutexes and
    /// return an empty guard.
    fn cluster_lock(&self, name: &str) -> Result<ClusterLock<'_>> {
        let _ = name;
        Ok(ClusterLock::none())
    }
}
