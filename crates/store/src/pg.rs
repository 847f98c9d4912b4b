//! [`PostgresStore`]: the [`Store`] on a PostgreSQL database, for several
//! voiceprint nodes sharing one database (`--database-url postgres://…`).
//!
//! Same rows, same bytes: records are sealed exactly as in SQLite (`rows.rs`), so
//! a database dump holds only ciphertext for names, customer ids and voiceprints,
//! and the master keys stay on the nodes (each node needs the same keyring).
//!
//! Durability: every [`Store::apply`] is one transaction; PostgreSQL's default
//! `synchronous_commit = on` makes it durable (WAL fsync'd) when the call returns.
//! Concurrency across nodes: row writes are upserts inside transactions; key
//! rotation locks the domain's key row (`FOR UPDATE`) while writers share it
//! (`FOR SHARE`), so a write never seals a row under a key being retired.
//! Migrations run under a transaction-level advisory lock, so nodes starting
//! together migrate once.
//!
//! Deletion: rows are deleted in the transaction, then `VACUUM records` runs so
//! the dead tuples are pruned from the table pages. PostgreSQL does not zero the
//! freed space nor the WAL history, so ciphertext of a deleted voiceprint can
//! linger in the server's files until overwritten; it stays sealed under the
//! domain key, and deleting the domain destroys that key (crypto-shredding). The
//! SQLite backend, by contrast, overwrites freed bytes (see docs/SECURITY notes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use postgres::{Client, NoTls, Row};

use crate::crypto::DataKey;
use crate::keyring::{Keyring, DEFAULT_KEY};
use crate::rows::{self, kind_code, open_row, seal_row, DomainKeys, RawRow, WrappedKeys};
use crate::{ClusterLock, Kind, Record, Result, Store, StoreError, Write, ROTATE_BATCH};

const SCHEMA_VERSION: i64 = 1;
/// Advisory lock key that serialises migrations across nodes ("vprt").
const MIGRATION_LOCK: i64 = 0x7670_7274;
/// How long a node waits for a cluster lock before the call fails (instead of
/// hanging behind a stuck peer; a dead peer's locks go with its connection).
const CLUSTER_LOCK_TIMEOUT: &str = "30s";
/// Idle connections kept per node.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// `COLLATE "C"` makes `ORDER BY id` byte order, as in SQLite, so NextTokens mean
/// the same on both backends.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS voiceprint_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS domain_keys (
    domain_id        TEXT COLLATE "C" PRIMARY KEY,
    generation       BIGINT NOT NULL,
    kms_key_id       TEXT NOT NULL,
    wrapped_key      BYTEA NOT NULL,
    wrap_nonce       BYTEA NOT NULL,
    next_generation  BIGINT,
    next_kms_key_id  TEXT,
    next_wrapped_key BYTEA,
    next_wrap_nonce  BYTEA
);
CREATE TABLE IF NOT EXISTS records (
    kind             SMALLINT NOT NULL,
    domain_id        TEXT COLLATE "C" NOT NULL,
    id               TEXT COLLATE "C" NOT NULL,
    alt_key_hash     BYTEA,
    attributes       TEXT NOT NULL,
    key_generation   BIGINT NOT NULL,
    sensitive_nonce  BYTEA NOT NULL,
    sensitive_ct     BYTEA NOT NULL,
    voiceprint_nonce BYTEA,
    voiceprint_ct    BYTEA,
    PRIMARY KEY (kind, domain_id, id)
);
CREATE INDEX IF NOT EXISTS records_alt_key
    ON records (kind, domain_id, alt_key_hash) WHERE alt_key_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_generation ON records (domain_id, key_generation);
"#;

const ROW_COLUMNS: &str = "kind, domain_id, id, alt_key_hash, attributes, key_generation, \
     sensitive_nonce, sensitive_ct, voiceprint_nonce, voiceprint_ct";
const ROW_COLUMNS_NO_VOICEPRINT: &str =
    "kind, domain_id, id, alt_key_hash, attributes, key_generation, \
     sensitive_nonce, sensitive_ct, voiceprint_nonce, \
     CASE WHEN voiceprint_ct IS NULL THEN NULL ELSE ''::bytea END";
const KEY_COLUMNS: &str = "generation, kms_key_id, wrapped_key, wrap_nonce, next_generation, \
     next_kms_key_id, next_wrapped_key, next_wrap_nonce";

fn pg_err(e: postgres::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        pg_err(e)
    }
}

fn raw_row(r: &Row, skip_voiceprint: bool) -> Result<RawRow> {
    Ok(RawRow {
        kind: i64::from(r.try_get::<_, i16>(0)?),
        domain_id: r.try_get(1)?,
        id: r.try_get(2)?,
        alt_key_hash: r.try_get(3)?,
        attributes: r.try_get(4)?,
        key_generation: r.try_get(5)?,
        sensitive_nonce: r.try_get(6)?,
        sensitive_ct: r.try_get(7)?,
        voiceprint_nonce: r.try_get(8)?,
        voiceprint_ct: r.try_get(9)?,
        skip_voiceprint,
    })
}

fn wrapped_keys(r: &Row) -> Result<WrappedKeys> {
    let next = match r.try_get::<_, Option<i64>>(4)? {
        Some(g) => Some((g, r.try_get(5)?, r.try_get(6)?, r.try_get(7)?)),
        None => None,
    };
    Ok(WrappedKeys {
        generation: r.try_get(0)?,
        kms_key_id: r.try_get(1)?,
        wrapped_key: r.try_get(2)?,
        wrap_nonce: r.try_get(3)?,
        next,
    })
}

fn code(kind: Kind) -> i16 {
    kind_code(kind) as i16
}

/// A connection on loan from the pool; returned when dropped (unless broken).
struct Conn<'a> {
    store: &'a PostgresStore,
    client: Option<Client>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                let mut idle = self.store.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < MAX_IDLE_CONNECTIONS {
                    idle.push(client);
                }
            }
        }
    }
}

/// A session-level advisory lock on its own pooled connection: unlocked (and the
/// connection returned) on drop. If the node dies, PostgreSQL drops the
/// connection and with it the lock.
struct AdvisoryLock<'a> {
    conn: Conn<'a>,
    key: i64,
}

impl Drop for AdvisoryLock<'_> {
    fn drop(&mut self) {
        let unlocked = self
            .conn
            .query_one("SELECT pg_advisory_unlock($1)", &[&self.key])
            .map(|row| row.get::<_, bool>(0));
        if !matches!(unlocked, Ok(true)) {
            // The lock's state is unknown: never hand this connection out again
            // (closing it releases whatever it holds).
            self.conn.client = None;
        }
    }
}

/// The advisory lock key of a lock name: 64 bits of its SHA-256.
fn advisory_key(name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("voiceprint-lock:{name}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

pub struct PostgresStore {
    url: String,
    keyring: Keyring,
    idle: Mutex<Vec<Client>>,
    keys: RwLock<HashMap<String, Arc<DomainKeys>>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // A blocking `postgres::Client` must not be dropped on an async runtime's
        // thread (it would block it; tokio refuses): the last store handle may well
        // go there, so the pooled connections close on a thread of their own.
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database` or the
    /// key=value form) and creates or checks the schema.
    pub fn connect(url: &str, keyring: Keyring) -> Result<PostgresStore> {
        let store = PostgresStore {
            url: url.to_owned(),
            keyring,
            idle: Mutex::new(Vec::new()),
            keys: RwLock::new(HashMap::new()),
        };
        store.migrate()?;
        Ok(store)
    }

    fn conn(&self) -> Result<Conn<'_>> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let client = match pooled {
            Some(c) => c,
            None => Client::connect(&self.url, NoTls)
                .map_err(|e| StoreError::Database(format!("cannot connect to PostgreSQL: {e}")))?,
        };
        Ok(Conn {
            store: self,
            client: Some(client),
        })
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(SCHEMA)?;
        let version: Option<String> = tx
            .query_opt(
                "SELECT value FROM voiceprint_meta WHERE key = 'schema_version'",
                &[],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        match version {
            None => {
                tx.execute(
                    "INSERT INTO voiceprint_meta (key, value) VALUES ('schema_version', $1)",
                    &[&SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(StoreError::Database(format!(
                    "the database has voiceprint schema version {v}; this build reads version {SCHEMA_VERSION}"
                )))
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn read_wrapped(
        client: &mut impl postgres::GenericClient,
        domain_id: &str,
        lock: &str,
    ) -> Result<Option<WrappedKeys>> {
        client
            .query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM domain_keys WHERE domain_id = $1 {lock}"),
                &[&domain_id],
            )?
            .map(|r| wrapped_keys(&r))
            .transpose()
    }

    fn cache_keys(&self, domain_id: &str, keys: Option<Arc<DomainKeys>>) {
        let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
        match keys {
            Some(k) => cache.insert(domain_id.to_owned(), k),
            None => cache.remove(domain_id),
        };
    }

    /// The domain's keys, from the cache or the database.
    fn domain_keys(&self, domain_id: &str) -> Result<Arc<DomainKeys>> {
        if let Some(k) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(domain_id)
        {
            return Ok(k.clone());
        }
        self.reload_keys(domain_id)
    }

    fn reload_keys(&self, domain_id: &str) -> Result<Arc<DomainKeys>> {
        let w = Self::read_wrapped(&mut *self.conn()?, domain_id, "")?
            .ok_or_else(|| StoreError::NoDomainKey(domain_id.to_owned()))?;
        let keys = Arc::new(rows::unwrap_all(&self.keyring, domain_id, &w)?);
        self.cache_keys(domain_id, Some(keys.clone()));
        Ok(keys)
    }

    /// Keys for writing inside `tx`, read with `FOR SHARE` so a concurrent rotation
    /// step waits for this transaction; the cache is refreshed when another node
    /// changed them.
    fn writer_keys(
        &self,
        tx: &mut postgres::Transaction<'_>,
        domain_id: &str,
    ) -> Result<Arc<DomainKeys>> {
        let w = Self::read_wrapped(tx, domain_id, "FOR SHARE")?
            .ok_or_else(|| StoreError::NoDomainKey(domain_id.to_owned()))?;
        let cached = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(domain_id)
            .cloned();
        if let Some(k) = cached {
            if k.matches(&w) {
                return Ok(k);
            }
        }
        let keys = Arc::new(rows::unwrap_all(&self.keyring, domain_id, &w)?);
        self.cache_keys(domain_id, Some(keys.clone()));
        Ok(keys)
    }

    fn decode(&self, raw: RawRow) -> Result<Record> {
        let keys = self.domain_keys(&raw.domain_id)?;
        if let Some(k) = keys.by_generation(raw.key_generation) {
            return open_row(raw, k);
        }
        // Another node rotated the key since it was cached.
        let keys = self.reload_keys(&raw.domain_id)?;
        match keys.by_generation(raw.key_generation) {
            Some(k) => open_row(raw, k),
            None => Err(StoreError::Corrupt(format!(
                "record {}/{} was sealed with key generation {} which the domain no longer has",
                raw.domain_id, raw.id, raw.key_generation
            ))),
        }
    }

    fn put(
        &self,
        tx: &mut postgres::Transaction<'_>,
        r: Record,
        keys: &mut HashMap<String, Arc<DomainKeys>>,
    ) -> Result<bool> {
        let domain_keys = match keys.get(&r.domain_id) {
            Some(k) => k.clone(),
            None => {
                let k = self.writer_keys(tx, &r.domain_id)?;
                keys.insert(r.domain_id.clone(), k.clone());
                k
            }
        };
        let kind = code(r.kind);
        let attributes = serde_json::to_string(&r.attributes)
            .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?;
        let dropped_voiceprint = r.voiceprint.is_none()
            && tx
                .query_opt(
                    "SELECT voiceprint_ct IS NOT NULL FROM records WHERE kind = $1 AND domain_id = $2 AND id = $3",
                    &[&kind, &r.domain_id, &r.id],
                )?
                .map(|row| row.try_get::<_, bool>(0))
                .transpose()?
                .unwrap_or(false);
        let key = domain_keys.write_key();
        let (domain_id, id) = (r.domain_id.clone(), r.id.clone());
        let sealed = seal_row(key, r, attributes)?;
        let (vn, vct) = sealed
            .voiceprint
            .map_or((None, None), |(n, c)| (Some(n), Some(c)));
        tx.execute(
            "INSERT INTO records (kind, domain_id, id, alt_key_hash, attributes, key_generation, sensitive_nonce, \
             sensitive_ct, voiceprint_nonce, voiceprint_ct) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (kind, domain_id, id) DO UPDATE SET alt_key_hash = excluded.alt_key_hash, \
             attributes = excluded.attributes, key_generation = excluded.key_generation, \
             sensitive_nonce = excluded.sensitive_nonce, sensitive_ct = excluded.sensitive_ct, \
             voiceprint_nonce = excluded.voiceprint_nonce, voiceprint_ct = excluded.voiceprint_ct",
            &[
                &kind,
                &domain_id,
                &id,
                &sealed.alt_key_hash,
                &sealed.attributes,
                &key.generation,
                &sealed.sensitive_nonce,
                &sealed.sensitive_ct,
                &vn,
                &vct,
            ],
        )?;
        Ok(dropped_voiceprint)
    }

    /// Prunes dead tuples after deletions (best effort: see the module notes).
    fn vacuum(&self) {
        let result = self
            .conn()
            .and_then(|mut c| Ok(c.batch_execute("VACUUM records")?));
        if let Err(e) = result {
            tracing_free_warning(&format!("VACUUM after a deletion failed: {e}"));
        }
    }

    fn list_rows(
        &self,
        kind: Kind,
        domain_id: &str,
        after_id: Option<&str>,
        limit: usize,
        with_voiceprints: bool,
    ) -> Result<Vec<Record>> {
        let columns = if with_voiceprints {
            ROW_COLUMNS
        } else {
            ROW_COLUMNS_NO_VOICEPRINT
        };
        let all_domains = kind == Kind::Domain && domain_id.is_empty();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after_id.unwrap_or("");
        let rows = if all_domains {
            self.conn()?.query(
                &format!("SELECT {columns} FROM records WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3"),
                &[&code(kind), &after, &limit],
            )?
        } else {
            self.conn()?.query(
                &format!(
                    "SELECT {columns} FROM records WHERE kind = $1 AND domain_id = $2 AND id > $3 ORDER BY id LIMIT $4"
                ),
                &[&code(kind), &domain_id, &after, &limit],
            )?
        };
        rows.iter()
            .map(|r| self.decode(raw_row(r, !with_voiceprints)?))
            .collect()
    }

    /// Rotation step 1 (see `sqlite` for the protocol): the next key, committed.
    fn begin_rotation(&self, domain_id: &str, kms_key_id: &str) -> Result<i64> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let w = Self::read_wrapped(&mut tx, domain_id, "FOR UPDATE")?
            .ok_or_else(|| StoreError::NoDomainKey(domain_id.to_owned()))?;
        let (generation, bytes) = rows::rotation_key(&self.keyring, domain_id, &w)?;
        let (wrapped, nonce) =
            rows::wrap_key(&self.keyring, domain_id, generation, kms_key_id, &bytes)?;
        tx.execute(
            "UPDATE domain_keys SET next_generation = $2, next_kms_key_id = $3, next_wrapped_key = $4, \
             next_wrap_nonce = $5 WHERE domain_id = $1",
            &[&domain_id, &generation, &kms_key_id, &wrapped, &nonce],
        )?;
        tx.commit()?;
        drop(conn);
        self.reload_keys(domain_id)?;
        Ok(generation)
    }

    /// Step 2: re-seal up to [`ROTATE_BATCH`] rows in one transaction.
    fn rotate_batch(&self, domain_id: &str, generation: i64) -> Result<usize> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let keys = self.writer_keys(&mut tx, domain_id)?;
        let new_key = keys
            .next
            .as_ref()
            .filter(|k| k.generation == generation)
            .ok_or_else(|| {
                StoreError::Database(format!("the rotation of domain {domain_id} was superseded"))
            })?;
        let rows = tx.query(
            &format!(
                "SELECT {ROW_COLUMNS} FROM records WHERE domain_id = $1 AND key_generation <> $2 LIMIT $3 FOR UPDATE"
            ),
            &[&domain_id, &generation, &(ROTATE_BATCH as i64)],
        )?;
        let moved = rows.len();
        for row in rows {
            let raw = raw_row(&row, false)?;
            let old = keys.by_generation(raw.key_generation).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "record {}/{} has unknown key generation {}",
                    raw.domain_id, raw.id, raw.key_generation
                ))
            })?;
            let attributes = raw.attributes.clone();
            let rec = open_row(raw, old)?;
            let kind = code(rec.kind);
            let (rec_domain, id) = (rec.domain_id.clone(), rec.id.clone());
            let sealed = seal_row(new_key, rec, attributes)?;
            let (vn, vct) = sealed
                .voiceprint
                .map_or((None, None), |(n, c)| (Some(n), Some(c)));
            tx.execute(
                "UPDATE records SET alt_key_hash = $4, key_generation = $5, sensitive_nonce = $6, sensitive_ct = $7, \
                 voiceprint_nonce = $8, voiceprint_ct = $9 WHERE kind = $1 AND domain_id = $2 AND id = $3",
                &[&kind, &rec_domain, &id, &sealed.alt_key_hash, &generation, &sealed.sensitive_nonce, &sealed.sensitive_ct, &vn, &vct],
            )?;
        }
        tx.commit()?;
        Ok(moved)
    }

    /// Step 3: promote the next key once no row is under another generation.
    fn finish_rotation(&self, domain_id: &str, generation: i64) -> Result<bool> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        // Lock the key row first: writers (FOR SHARE) finish before the count.
        Self::read_wrapped(&mut tx, domain_id, "FOR UPDATE")?;
        let left: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM records WHERE domain_id = $1 AND key_generation <> $2",
                &[&domain_id, &generation],
            )?
            .try_get(0)?;
        if left > 0 {
            return Ok(false);
        }
        let changed = tx.execute(
            "UPDATE domain_keys SET generation = next_generation, kms_key_id = next_kms_key_id, \
             wrapped_key = next_wrapped_key, wrap_nonce = next_wrap_nonce, next_generation = NULL, \
             next_kms_key_id = NULL, next_wrapped_key = NULL, next_wrap_nonce = NULL \
             WHERE domain_id = $1 AND next_generation = $2",
            &[&domain_id, &generation],
        )?;
        if changed != 1 {
            return Err(StoreError::Database(format!(
                "the rotation of domain {domain_id} was superseded"
            )));
        }
        tx.commit()?;
        drop(conn);
        self.reload_keys(domain_id)?;
        Ok(true)
    }
}

/// The store crate does not depend on `tracing`; failures that must not fail the
/// caller's (already committed) write are reported on stderr.
fn tracing_free_warning(message: &str) {
    eprintln!("voiceprint-store: warning: {message}");
}

impl Store for PostgresStore {
    fn cluster_lock(&self, name: &str) -> Result<ClusterLock<'_>> {
        let key = advisory_key(name);
        let mut conn = self.conn()?;
        conn.batch_execute(&format!("SET lock_timeout = '{CLUSTER_LOCK_TIMEOUT}'"))?;
        let locked = conn.execute("SELECT pg_advisory_lock($1)", &[&key]);
        // Pooled connections go back to other work: no timeout left on them.
        conn.batch_execute("SET lock_timeout = DEFAULT")?;
        locked.map_err(|e| StoreError::Database(format!("cluster lock {name:?}: {e}")))?;
        Ok(ClusterLock::holding(AdvisoryLock { conn, key }))
    }

    fn create_domain_key(&self, domain_id: &str, kms_key_id: Option<&str>) -> Result<()> {
        let kms = kms_key_id.unwrap_or(DEFAULT_KEY);
        let bytes = DataKey::random_bytes();
        let (wrapped, nonce) = rows::wrap_key(&self.keyring, domain_id, 1, kms, &bytes)?;
        let inserted = self.conn()?.execute(
            "INSERT INTO domain_keys (domain_id, generation, kms_key_id, wrapped_key, wrap_nonce) \
             VALUES ($1, 1, $2, $3, $4) ON CONFLICT (domain_id) DO NOTHING",
            &[&domain_id, &kms, &wrapped, &nonce],
        )?;
        if inserted == 0 {
            return Err(StoreError::Database(format!(
                "domain {domain_id} already has a data key"
            )));
        }
        self.reload_keys(domain_id)?;
        Ok(())
    }

    fn rotate_domain_key(&self, domain_id: &str, new_kms_key_id: Option<&str>) -> Result<()> {
        let kms = new_kms_key_id.unwrap_or(DEFAULT_KEY);
        self.keyring.key(kms)?;
        let generation = self.begin_rotation(domain_id, kms)?;
        loop {
            while self.rotate_batch(domain_id, generation)? > 0 {}
            if self.finish_rotation(domain_id, generation)? {
                return Ok(());
            }
        }
    }

    fn has_key(&self, kms_key_id: &str) -> Result<bool> {
        Ok(self.keyring.has_key(kms_key_id))
    }

    fn get(&self, kind: Kind, domain_id: &str, id: &str) -> Result<Option<Record>> {
        let row = self.conn()?.query_opt(
            &format!(
                "SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND domain_id = $2 AND id = $3"
            ),
            &[&code(kind), &domain_id, &id],
        )?;
        row.map(|r| self.decode(raw_row(&r, false)?)).transpose()
    }

    fn get_by_alt_key(&self, kind: Kind, domain_id: &str, alt_key: &str) -> Result<Option<Record>> {
        let keys = match self.domain_keys(domain_id) {
            Ok(k) => k,
            Err(StoreError::NoDomainKey(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let current = keys.current.key.alt_key_hash(alt_key);
        let next = keys
            .next
            .as_ref()
            .map_or_else(|| current.clone(), |k| k.key.alt_key_hash(alt_key));
        let row = self.conn()?.query_opt(
            &format!(
                "SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND domain_id = $2 AND alt_key_hash IN ($3, $4) LIMIT 1"
            ),
            &[&code(kind), &domain_id, &current, &next],
        )?;
        match row {
            Some(r) => self.decode(raw_row(&r, false)?).map(Some),
            // Another node may have started a rotation this node's cache has not
            // seen: look again with fresh keys before answering "absent".
            None if keys.next.is_none() => {
                let fresh = self.reload_keys(domain_id)?;
                match &fresh.next {
                    Some(k) => {
                        let hash = k.key.alt_key_hash(alt_key);
                        let row = self.conn()?.query_opt(
                            &format!(
                                "SELECT {ROW_COLUMNS} FROM records WHERE kind = $1 AND domain_id = $2 AND alt_key_hash = $3 LIMIT 1"
                            ),
                            &[&code(kind), &domain_id, &hash],
                        )?;
                        row.map(|r| self.decode(raw_row(&r, false)?)).transpose()
                    }
                    None => Ok(None),
                }
            }
            None => Ok(None),
        }
    }

    fn list(
        &self,
        kind: Kind,
        domain_id: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.list_rows(kind, domain_id, after_id, limit, true)
    }

    fn list_without_voiceprints(
        &self,
        kind: Kind,
        domain_id: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.list_rows(kind, domain_id, after_id, limit, false)
    }

    fn count(&self, kind: Kind, domain_id: &str) -> Result<u64> {
        let all_domains = kind == Kind::Domain && domain_id.is_empty();
        let n: i64 = if all_domains {
            self.conn()?
                .query_one(
                    "SELECT COUNT(*) FROM records WHERE kind = $1",
                    &[&code(kind)],
                )?
                .try_get(0)?
        } else {
            self.conn()?
                .query_one(
                    "SELECT COUNT(*) FROM records WHERE kind = $1 AND domain_id = $2",
                    &[&code(kind), &domain_id],
                )?
                .try_get(0)?
        };
        Ok(n as u64)
    }

    fn apply(&self, writes: Vec<Write>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut erased = false;
        {
            let mut conn = self.conn()?;
            let mut tx = conn.transaction()?;
            let mut keys = HashMap::new();
            for w in writes {
                match w {
                    Write::Put(r) => erased |= self.put(&mut tx, r, &mut keys)?,
                    Write::Delete {
                        kind,
                        domain_id,
                        id,
                    } => {
                        erased |= tx.execute(
                            "DELETE FROM records WHERE kind = $1 AND domain_id = $2 AND id = $3",
                            &[&code(kind), &domain_id, &id],
                        )? > 0;
                    }
                }
            }
            tx.commit()?;
        }
        if erased {
            self.vacuum();
        }
        Ok(())
    }

    fn delete_domain(&self, domain_id: &str) -> Result<()> {
        {
            let mut conn = self.conn()?;
            let mut tx = conn.transaction()?;
            tx.execute("DELETE FROM records WHERE domain_id = $1", &[&domain_id])?;
            tx.execute(
                "DELETE FROM domain_keys WHERE domain_id = $1",
                &[&domain_id],
            )?;
            tx.commit()?;
        }
        self.cache_keys(domain_id, None);
        self.vacuum();
        Ok(())
    }
}
