//! [`SqliteStore`]: the [`Store`] on one SQLite file, `<data dir>/voiceprint.db`.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a write acknowledged by
//! [`Store::apply`] is in the fsync'd log and survives `kill -9` (and power loss).
//! Real deletion: `secure_delete=ON` overwrites freed cells and pages, and every
//! batch that deletes a row or drops a voiceprint is followed by
//! `wal_checkpoint(TRUNCATE)`, so no older page copy stays in the `-wal` file.
//!
//! Concurrency: one writer connection behind a mutex (SQLite has one writer
//! anyway) and a small pool of read connections, which WAL lets run beside it.
//! Unwrapped domain data keys are cached in memory; decryption happens after the
//! read connection is back in the pool.
//!
//! Encryption: each domain has a data key (AES-256-GCM) wrapped by a keyring master
//! key. A row's `sensitive_ct` (the sensitive JSON and the alt key) and
//! `voiceprint_ct` are sealed under it with random nonces; the associated data binds
//! them to (domain, kind, id, key generation), and the sensitive part also to the
//! plaintext `attributes` and to whether a voiceprint is present, so rows cannot be
//! swapped, edited or have their voiceprint silently removed.
//!
//! Key rotation (crash-safe by design): rows carry the generation of the data key
//! that sealed them, and `domain_keys` holds the current key plus, while a rotation
//! runs, the next one. Rotation (1) commits the next key, (2) re-seals rows in
//! batches of [`ROTATE_BATCH`], one transaction each, (3) promotes the next key and
//! forgets the old one. Writes during a rotation already use the next key. A crash
//! at any point leaves every row readable (both keys are kept until step 3), and
//! calling `rotate_domain_key` again resumes with the same next key, re-wrapped under
//! the requested master key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::crypto::DataKey;
use crate::keyring::{Keyring, DEFAULT_KEY};
pub use crate::rows::KeyGeneration;
use crate::rows::{self, kind_code, open_row, seal_row, DomainKeys, RawRow, WrappedKeys};
use crate::{Kind, Record, Result, Store, StoreError, Write};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "voiceprint.db";
/// Rows re-sealed per transaction during key rotation.
pub const ROTATE_BATCH: usize = 256;
/// Idle read connections kept open. At least the server's expected concurrency
/// (the load benchmark runs 64 clients): with fewer, reads past the pool opened
/// and closed a connection each, re-parsing the schema and re-faulting the memory
/// map, which was a quarter of a ListSpeakers page's CPU.
const MAX_IDLE_READERS: usize = 128;
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- One data key per domain, wrapped (AES-256-GCM) by the keyring key kms_key_id.
-- next_* is the key a running rotation moves rows to.
CREATE TABLE IF NOT EXISTS domain_keys (
    domain_id        TEXT PRIMARY KEY,
    generation       INTEGER NOT NULL,
    kms_key_id       TEXT NOT NULL,
    wrapped_key      BLOB NOT NULL,
    wrap_nonce       BLOB NOT NULL,
    next_generation  INTEGER,
    next_kms_key_id  TEXT,
    next_wrapped_key BLOB,
    next_wrap_nonce  BLOB
);
CREATE TABLE IF NOT EXISTS records (
    kind             INTEGER NOT NULL,
    domain_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    alt_key_hash     BLOB,
    attributes       TEXT NOT NULL,
    key_generation   INTEGER NOT NULL,
    sensitive_nonce  BLOB NOT NULL,
    sensitive_ct     BLOB NOT NULL,
    voiceprint_nonce BLOB,
    voiceprint_ct    BLOB,
    PRIMARY KEY (kind, domain_id, id)
);
CREATE INDEX IF NOT EXISTS records_alt_key
    ON records (kind, domain_id, alt_key_hash) WHERE alt_key_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_generation ON records (domain_id, key_generation);
";

const ROW_COLUMNS: &str = "kind, domain_id, id, alt_key_hash, attributes, key_generation, \
     sensitive_nonce, sensitive_ct, voiceprint_nonce, voiceprint_ct";
/// As [`ROW_COLUMNS`], with the voiceprint ciphertext replaced by an empty marker
/// of its presence (still needed for the sensitive part's associated data).
const ROW_COLUMNS_NO_VOICEPRINT: &str =
    "kind, domain_id, id, alt_key_hash, attributes, key_generation, \
     sensitive_nonce, sensitive_ct, voiceprint_nonce, \
     CASE WHEN voiceprint_ct IS NULL THEN NULL ELSE x'' END";

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        db_err(e)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the store; SQLite keeps the data consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RawRow {
    fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            kind: r.get(0)?,
            domain_id: r.get(1)?,
            id: r.get(2)?,
            alt_key_hash: r.get(3)?,
            attributes: r.get(4)?,
            key_generation: r.get(5)?,
            sensitive_nonce: r.get(6)?,
            sensitive_ct: r.get(7)?,
            voiceprint_nonce: r.get(8)?,
            voiceprint_ct: r.get(9)?,
            skip_voiceprint: false,
        })
    }

    /// For [`ROW_COLUMNS_NO_VOICEPRINT`].
    fn from_sql_without_voiceprint(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            skip_voiceprint: true,
            ..Self::from_sql(r)?
        })
    }
}

/// Where a queued batch's outcome is left for its caller.
type ResultSlot = Arc<Mutex<Option<Result<()>>>>;

/// The durable, encrypted [`Store`] on SQLite.
pub struct SqliteStore {
    path: PathBuf,
    keyring: Keyring,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    keys: RwLock<HashMap<String, Arc<DomainKeys>>>,
    /// Batches waiting for the next group commit.
    queue: Mutex<Vec<(Vec<Write>, ResultSlot)>>,
    /// A checkpoint after an erasing write could not complete (readers held the
    /// WAL); the next write retries it.
    erase_pending: AtomicBool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Read pages through a memory map instead of a read() per page miss: lists on
/// large domains were spending a third of their time copying pages in the kernel.
/// (Only address space; WAL keeps writes going through the log.)
fn memory_map(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA mmap_size = 4294967296", [], |_| Ok(()))
        .optional()?;
    Ok(())
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    // Each pragma answers a row (or none); query them all the same way.
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA secure_delete = ON",
        "PRAGMA foreign_keys = ON",
    ] {
        conn.query_row(pragma, [], |_| Ok(())).optional()?;
    }
    memory_map(conn)?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!(
            "could not switch to WAL journal (got {mode})"
        )));
    }
    Ok(())
}

impl SqliteStore {
    /// Open (creating on first start) `<dir>/voiceprint.db` with master keys from
    /// `keyring`. Every domain data key is unwrapped now, so a wrong master key is a
    /// clear start-up error, not a failure on the first request.
    pub fn open(dir: impl AsRef<Path>, keyring: Keyring) -> Result<SqliteStore> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // SQLite creates -wal and -shm with the database's mode.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        configure(&conn)?;
        conn.execute_batch(SCHEMA)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(StoreError::Database(format!(
                    "{} has schema version {v}; this build reads version {SCHEMA_VERSION}",
                    path.display()
                )))
            }
        }
        let store = SqliteStore {
            path,
            keyring,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            keys: RwLock::new(HashMap::new()),
            erase_pending: AtomicBool::new(false),
            queue: Mutex::new(Vec::new()),
        };
        store.load_all_keys()?;
        Ok(store)
    }

    fn list_rows(
        &self,
        kind: Kind,
        domain_id: &str,
        after_id: Option<&str>,
        limit: usize,
        with_voiceprints: bool,
    ) -> Result<Vec<Record>> {
        let all_domains = kind == Kind::Domain && domain_id.is_empty();
        let (columns, from_sql): (&str, fn(&rusqlite::Row<'_>) -> rusqlite::Result<RawRow>) =
            if with_voiceprints {
                (ROW_COLUMNS, RawRow::from_sql)
            } else {
                (
                    ROW_COLUMNS_NO_VOICEPRINT,
                    RawRow::from_sql_without_voiceprint,
                )
            };
        let raws = self.with_reader(|c| {
            let after = after_id.unwrap_or("");
            if all_domains {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {columns} FROM records WHERE kind = ?1 AND ?2 = '' AND id > ?3 ORDER BY id LIMIT ?4"
                ))?;
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows =
                    st.query_map(params![kind_code(kind), domain_id, after, limit], from_sql)?;
                return Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?);
            }
            // No bound LIMIT here: SQLite 3.50 plans around a bound LIMIT's value, so
            // rebinding it expired the cached statement and every page re-parsed
            // its SQL. The primary key walks rows in id order already, so stopping
            // after `limit` rows reads no more than LIMIT would.
            let mut st = c.prepare_cached(&format!(
                "SELECT {columns} FROM records WHERE kind = ?1 AND domain_id = ?2 AND id > ?3 ORDER BY id"
            ))?;
            let rows = st.query_map(params![kind_code(kind), domain_id, after], from_sql)?;
            Ok(rows.take(limit).collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        raws.into_iter().map(|r| self.decode(r)).collect()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA integrity_check`: `Ok(())` when SQLite finds the file sound.
    pub fn integrity_check(&self) -> Result<()> {
        let report: Vec<String> = self.with_reader(|c| {
            let mut st = c.prepare("PRAGMA integrity_check")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if report == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!(
                "integrity check: {}",
                report.join("; ")
            )))
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                c.busy_timeout(Duration::from_secs(10))?;
                memory_map(&c)?;
                c.query_row("PRAGMA query_only = ON", [], |_| Ok(()))
                    .optional()?;
                c.set_prepared_statement_cache_capacity(32);
                c
            }
        };
        let result = f(&conn);
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    fn wrap_key(
        &self,
        domain_id: &str,
        generation: i64,
        kms_key_id: &str,
        key: &[u8; 32],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        rows::wrap_key(&self.keyring, domain_id, generation, kms_key_id, key)
    }

    fn read_wrapped(conn: &Connection, domain_id: &str) -> Result<Option<WrappedKeys>> {
        Ok(conn
            .prepare_cached(
                "SELECT generation, kms_key_id, wrapped_key, wrap_nonce, next_generation, next_kms_key_id, \
                 next_wrapped_key, next_wrap_nonce FROM domain_keys WHERE domain_id = ?1",
            )?
            .query_row([domain_id], |r| {
                let next = match r.get::<_, Option<i64>>(4)? {
                    Some(g) => Some((g, r.get(5)?, r.get(6)?, r.get(7)?)),
                    None => None,
                };
                Ok(WrappedKeys { generation: r.get(0)?, kms_key_id: r.get(1)?, wrapped_key: r.get(2)?, wrap_nonce: r.get(3)?, next })
            })
            .optional()?)
    }

    fn unwrap_all(&self, domain_id: &str, w: &WrappedKeys) -> Result<DomainKeys> {
        rows::unwrap_all(&self.keyring, domain_id, w)
    }

    /// Unwrap every domain's keys into the cache. A key missing from the keyring is
    /// left for the first access to report; a key that does not decrypt fails here.
    fn load_all_keys(&self) -> Result<()> {
        let conn = lock(&self.writer);
        let mut st = conn.prepare("SELECT domain_id FROM domain_keys")?;
        let ids = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut cache = HashMap::new();
        for id in ids {
            let Some(w) = Self::read_wrapped(&conn, &id)? else {
                continue;
            };
            match self.unwrap_all(&id, &w) {
                Ok(k) => {
                    cache.insert(id, Arc::new(k));
                }
                Err(StoreError::UnknownKey(_)) => {}
                Err(e) => return Err(e),
            }
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = cache;
        Ok(())
    }

    /// The domain's keys, from the cache or (first use, or after a key was added
    /// to the keyring) from the database.
    fn domain_keys(&self, domain_id: &str) -> Result<Arc<DomainKeys>> {
        if let Some(k) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(domain_id)
        {
            return Ok(k.clone());
        }
        let w = self
            .with_reader(|c| Self::read_wrapped(c, domain_id))?
            .ok_or_else(|| StoreError::NoDomainKey(domain_id.to_string()))?;
        let keys = Arc::new(self.unwrap_all(domain_id, &w)?);
        // Never overwrite: the writer may have cached newer keys meanwhile.
        Ok(self
            .keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(domain_id.to_string())
            .or_insert(keys)
            .clone())
    }

    /// The domain's keys as the writer sees them (reads through `conn`, which
    /// may be inside a transaction).
    fn reload_keys(&self, conn: &Connection, domain_id: &str) -> Result<Option<Arc<DomainKeys>>> {
        let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
        match Self::read_wrapped(conn, domain_id)? {
            Some(w) => {
                let keys = Arc::new(self.unwrap_all(domain_id, &w)?);
                cache.insert(domain_id.to_string(), keys.clone());
                Ok(Some(keys))
            }
            None => {
                cache.remove(domain_id);
                Ok(None)
            }
        }
    }

    /// The domain's keys for a write: checked against `domain_keys` inside the
    /// writer's transaction (one indexed read), so a write never uses a key that
    /// a concurrent reader cached before a rotation step or a domain deletion.
    fn writer_keys(&self, tx: &Connection, domain_id: &str) -> Result<Arc<DomainKeys>> {
        let w = Self::read_wrapped(tx, domain_id)?
            .ok_or_else(|| StoreError::NoDomainKey(domain_id.to_string()))?;
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
        let keys = Arc::new(self.unwrap_all(domain_id, &w)?);
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(domain_id.to_string(), keys.clone());
        Ok(keys)
    }

    fn decode(&self, raw: RawRow) -> Result<Record> {
        let keys = self.domain_keys(&raw.domain_id)?;
        if let Some(k) = keys.by_generation(raw.key_generation) {
            return open_row(raw, k);
        }
        // A rotation may have finished since the cache was filled; reread once.
        let keys = self
            .with_reader(|c| Self::read_wrapped(c, &raw.domain_id))?
            .map(|w| self.unwrap_all(&raw.domain_id, &w))
            .transpose()?
            .ok_or_else(|| StoreError::NoDomainKey(raw.domain_id.clone()))?;
        match keys.by_generation(raw.key_generation) {
            Some(k) => open_row(raw, k),
            None => Err(StoreError::Corrupt(format!(
                "record {}/{} was sealed with key generation {} which the domain no longer has",
                raw.domain_id, raw.id, raw.key_generation
            ))),
        }
    }

    /// Copy the WAL into the database and truncate it, so no older page image
    /// (e.g. of a deleted voiceprint) remains in the -wal file.
    ///
    /// Runs after the commit, so a failure here does not undo the write: it is
    /// remembered and retried after the next write (see `erase_pending`).
    fn checkpoint(&self, conn: &Connection) -> Result<()> {
        let result = Self::checkpoint_now(conn);
        self.erase_pending.store(result.is_err(), Ordering::Relaxed);
        result
    }

    fn checkpoint_now(conn: &Connection) -> Result<()> {
        for _ in 0..50 {
            let (busy, _log, _done): (i64, i64, i64) =
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            if busy == 0 {
                return Ok(());
            }
            // A reader still holds an old snapshot; it is gone within a request.
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(StoreError::Database(
            "the WAL checkpoint after a delete stayed blocked by readers".into(),
        ))
    }

    fn put(
        &self,
        tx: &Connection,
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
        let kind = kind_code(r.kind);
        let attributes = serde_json::to_string(&r.attributes)
            .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?;
        // Overwriting a voiceprint with none must not leave it in the WAL.
        let dropped_voiceprint = r.voiceprint.is_none()
            && tx
                .prepare_cached("SELECT voiceprint_ct IS NOT NULL FROM records WHERE kind = ?1 AND domain_id = ?2 AND id = ?3")?
                .query_row(params![kind, r.domain_id, r.id], |row| row.get::<_, bool>(0))
                .optional()?
                .unwrap_or(false);
        let key = domain_keys.write_key();
        let (domain_id, id) = (r.domain_id.clone(), r.id.clone());
        let sealed = seal_row(key, r, attributes)?;
        let (vn, vct) = sealed
            .voiceprint
            .map_or((None, None), |(n, c)| (Some(n), Some(c)));
        tx.prepare_cached(
            "INSERT INTO records (kind, domain_id, id, alt_key_hash, attributes, key_generation, sensitive_nonce, \
             sensitive_ct, voiceprint_nonce, voiceprint_ct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (kind, domain_id, id) DO UPDATE SET alt_key_hash = excluded.alt_key_hash, \
             attributes = excluded.attributes, key_generation = excluded.key_generation, \
             sensitive_nonce = excluded.sensitive_nonce, sensitive_ct = excluded.sensitive_ct, \
             voiceprint_nonce = excluded.voiceprint_nonce, voiceprint_ct = excluded.voiceprint_ct",
        )?
        .execute(params![
            kind,
            domain_id,
            id,
            sealed.alt_key_hash,
            sealed.attributes,
            key.generation,
            sealed.sensitive_nonce,
            sealed.sensitive_ct,
            vn,
            vct
        ])?;
        Ok(dropped_voiceprint)
    }

    /// Apply one caller's batch inside the group transaction; `Ok(true)` when it
    /// erased a row or a voiceprint.
    fn apply_batch(
        &self,
        conn: &Connection,
        writes: Vec<Write>,
        keys: &mut HashMap<String, Arc<DomainKeys>>,
    ) -> Result<bool> {
        let mut erased = false;
        for w in writes {
            match w {
                Write::Put(r) => erased |= self.put(conn, r, keys)?,
                Write::Delete {
                    kind,
                    domain_id,
                    id,
                } => {
                    erased |= conn
                        .prepare_cached(
                            "DELETE FROM records WHERE kind = ?1 AND domain_id = ?2 AND id = ?3",
                        )?
                        .execute(params![kind_code(kind), domain_id, id])?
                        > 0;
                }
            }
        }
        Ok(erased)
    }

    /// Commit the queued batches in one transaction and fill in each caller's
    /// result. Returns whether anything was erased.
    fn commit_group(&self, conn: &mut Connection, group: Vec<(Vec<Write>, ResultSlot)>) -> bool {
        let mut erased = false;
        let mut outcomes: Vec<(ResultSlot, Result<()>)> = Vec::with_capacity(group.len());
        let committed = (|| -> Result<()> {
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut keys = HashMap::new();
            for (writes, slot) in group {
                let mut sp = tx.savepoint()?;
                match self.apply_batch(&sp, writes, &mut keys) {
                    Ok(e) => {
                        sp.commit()?;
                        erased |= e;
                        outcomes.push((slot, Ok(())));
                    }
                    // Dropping the savepoint rolls this batch back, and only it.
                    Err(err) => {
                        sp.rollback()?;
                        drop(sp);
                        outcomes.push((slot, Err(err)));
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = committed {
            // Nothing of the group is durable: every caller gets the failure.
            let msg = e.to_string();
            for (_, result) in outcomes.iter_mut() {
                if result.is_ok() {
                    *result = Err(StoreError::Database(msg.clone()));
                }
            }
            erased = false;
        }
        for (slot, result) in outcomes {
            *lock(&slot) = Some(result);
        }
        erased
    }

    /// Step 1 of a rotation: make sure the domain has a next key wrapped by
    /// `kms_key_id`; returns its generation.
    fn begin_rotation(&self, domain_id: &str, kms_key_id: &str) -> Result<i64> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let w = Self::read_wrapped(&tx, domain_id)?
            .ok_or_else(|| StoreError::NoDomainKey(domain_id.to_string()))?;
        let (generation, bytes) = rows::rotation_key(&self.keyring, domain_id, &w)?;
        let (wrapped, nonce) = self.wrap_key(domain_id, generation, kms_key_id, &bytes)?;
        tx.execute(
            "UPDATE domain_keys SET next_generation = ?2, next_kms_key_id = ?3, next_wrapped_key = ?4, \
             next_wrap_nonce = ?5 WHERE domain_id = ?1",
            params![domain_id, generation, kms_key_id, wrapped, nonce],
        )?;
        tx.commit()?;
        self.reload_keys(&conn, domain_id)?;
        Ok(generation)
    }

    /// Step 2: re-seal up to [`ROTATE_BATCH`] rows not yet under `generation`, in one
    /// transaction. Returns how many rows it moved (0 = done).
    fn rotate_batch(&self, domain_id: &str, generation: i64) -> Result<usize> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let keys = self.writer_keys(&tx, domain_id)?;
        let new_key = keys
            .next
            .as_ref()
            .filter(|k| k.generation == generation)
            .ok_or_else(|| {
                StoreError::Database(format!("the rotation of domain {domain_id} was superseded"))
            })?;
        let raws = {
            let mut st = tx.prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM records WHERE domain_id = ?1 AND key_generation <> ?2 LIMIT ?3"
            ))?;
            let rows = st.query_map(
                params![domain_id, generation, ROTATE_BATCH as i64],
                RawRow::from_sql,
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let moved = raws.len();
        for raw in raws {
            let old = keys.by_generation(raw.key_generation).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "record {}/{} has unknown key generation {}",
                    raw.domain_id, raw.id, raw.key_generation
                ))
            })?;
            let attributes = raw.attributes.clone();
            let rec = open_row(raw, old)?;
            let kind = kind_code(rec.kind);
            let (domain_id, id) = (rec.domain_id.clone(), rec.id.clone());
            let sealed = seal_row(new_key, rec, attributes)?;
            let (vn, vct) = sealed
                .voiceprint
                .map_or((None, None), |(n, c)| (Some(n), Some(c)));
            tx.prepare_cached(
                "UPDATE records SET alt_key_hash = ?4, key_generation = ?5, sensitive_nonce = ?6, sensitive_ct = ?7, \
                 voiceprint_nonce = ?8, voiceprint_ct = ?9 WHERE kind = ?1 AND domain_id = ?2 AND id = ?3",
            )?
            .execute(params![kind, domain_id, id, sealed.alt_key_hash, generation, sealed.sensitive_nonce, sealed.sensitive_ct, vn, vct])?;
        }
        tx.commit()?;
        Ok(moved)
    }

    /// Step 3: the next key becomes the current one; the old one is forgotten.
    /// `Ok(false)` if rows under the old key remain (then run more batches).
    fn finish_rotation(&self, domain_id: &str, generation: i64) -> Result<bool> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let left: i64 = tx.query_row(
            "SELECT COUNT(*) FROM records WHERE domain_id = ?1 AND key_generation <> ?2",
            params![domain_id, generation],
            |r| r.get(0),
        )?;
        if left > 0 {
            return Ok(false);
        }
        let changed = tx.execute(
            "UPDATE domain_keys SET generation = next_generation, kms_key_id = next_kms_key_id, \
             wrapped_key = next_wrapped_key, wrap_nonce = next_wrap_nonce, next_generation = NULL, \
             next_kms_key_id = NULL, next_wrapped_key = NULL, next_wrap_nonce = NULL \
             WHERE domain_id = ?1 AND next_generation = ?2",
            params![domain_id, generation],
        )?;
        if changed != 1 {
            return Err(StoreError::Database(format!(
                "the rotation of domain {domain_id} was superseded"
            )));
        }
        tx.commit()?;
        self.reload_keys(&conn, domain_id)?;
        // The old wrapped key and old ciphertexts leave the WAL too (retried after
        // the next write if readers block it now).
        let _ = self.checkpoint(&conn);
        Ok(true)
    }

    /// The key generation and master key name a domain's rows are (being) sealed under:
    /// `(current, next)`; for tests and operators.
    pub fn domain_key_info(
        &self,
        domain_id: &str,
    ) -> Result<Option<(KeyGeneration, Option<KeyGeneration>)>> {
        let w = self.with_reader(|c| Self::read_wrapped(c, domain_id))?;
        Ok(w.map(|w| {
            (
                (w.generation, w.kms_key_id),
                w.next.map(|(g, k, _, _)| (g, k)),
            )
        }))
    }

    /// Run only the first `batches` batches of a rotation and stop, as a crash
    /// would; for crash-safety tests.
    #[doc(hidden)]
    pub fn rotate_domain_key_partially(
        &self,
        domain_id: &str,
        new_kms_key_id: Option<&str>,
        batches: usize,
    ) -> Result<()> {
        let kms = new_kms_key_id.unwrap_or(DEFAULT_KEY);
        self.keyring.key(kms)?;
        let generation = self.begin_rotation(domain_id, kms)?;
        for _ in 0..batches {
            if self.rotate_batch(domain_id, generation)? == 0 {
                break;
            }
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn create_domain_key(&self, domain_id: &str, kms_key_id: Option<&str>) -> Result<()> {
        let kms = kms_key_id.unwrap_or(DEFAULT_KEY);
        let bytes = DataKey::random_bytes();
        let (wrapped, nonce) = self.wrap_key(domain_id, 1, kms, &bytes)?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO domain_keys (domain_id, generation, kms_key_id, wrapped_key, wrap_nonce) \
             VALUES (?1, 1, ?2, ?3, ?4) ON CONFLICT (domain_id) DO NOTHING",
            params![domain_id, kms, wrapped, nonce],
        )?;
        if inserted == 0 {
            return Err(StoreError::Database(format!(
                "domain {domain_id} already has a data key"
            )));
        }
        tx.commit()?;
        self.reload_keys(&conn, domain_id)?;
        Ok(())
    }

    fn rotate_domain_key(&self, domain_id: &str, new_kms_key_id: Option<&str>) -> Result<()> {
        let kms = new_kms_key_id.unwrap_or(DEFAULT_KEY);
        self.keyring.key(kms)?;
        let generation = self.begin_rotation(domain_id, kms)?;
        // Each batch takes the writer lock on its own, so API writes interleave.
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
        let raw = self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM records WHERE kind = ?1 AND domain_id = ?2 AND id = ?3"
            ))?
            .query_row(params![kind_code(kind), domain_id, id], RawRow::from_sql)
            .optional()?)
        })?;
        raw.map(|r| self.decode(r)).transpose()
    }

    fn get_by_alt_key(&self, kind: Kind, domain_id: &str, alt_key: &str) -> Result<Option<Record>> {
        let keys = match self.domain_keys(domain_id) {
            Ok(k) => k,
            // No key: the domain has no rows either.
            Err(StoreError::NoDomainKey(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // During a rotation a row's hash is under either key.
        let current = keys.current.key.alt_key_hash(alt_key);
        let next = keys
            .next
            .as_ref()
            .map_or_else(|| current.clone(), |k| k.key.alt_key_hash(alt_key));
        let raw = self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM records WHERE kind = ?1 AND domain_id = ?2 AND alt_key_hash IN (?3, ?4) LIMIT 1"
            ))?
            .query_row(params![kind_code(kind), domain_id, current, next], RawRow::from_sql)
            .optional()?)
        })?;
        raw.map(|r| self.decode(r)).transpose()
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

    /// Skips reading and decrypting voiceprints: a quarter of the cost of a
    /// ListSpeakers page with 768-byte voiceprints.
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
        self.with_reader(|c| {
            let n: i64 = if all_domains {
                c.prepare_cached("SELECT COUNT(*) FROM records WHERE kind = ?1")?
                    .query_row([kind_code(kind)], |r| r.get(0))?
            } else {
                c.prepare_cached("SELECT COUNT(*) FROM records WHERE kind = ?1 AND domain_id = ?2")?
                    .query_row(params![kind_code(kind), domain_id], |r| r.get(0))?
            };
            Ok(n as u64)
        })
    }

    /// Group commit: concurrent callers queue their batches; whoever holds the
    /// writer lock commits every queued batch in one transaction (one fsync), each
    /// inside its own savepoint so that a failing batch is rolled back alone. A
    /// caller whose batch another caller committed just collects its result.
    fn apply(&self, writes: Vec<Write>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let slot: ResultSlot = Arc::new(Mutex::new(None));
        lock(&self.queue).push((writes, slot.clone()));
        let mut conn = lock(&self.writer);
        if let Some(result) = lock(&slot).take() {
            return result;
        }
        // Not yet committed, so still queued: lead this group.
        let group = std::mem::take(&mut *lock(&self.queue));
        let erased = self.commit_group(&mut conn, group);
        if erased || self.erase_pending.load(Ordering::Relaxed) {
            // The batches are committed either way; a blocked checkpoint is retried
            // after the next write rather than reported as a failed write.
            let _ = self.checkpoint(&conn);
        }
        drop(conn);
        let result = lock(&slot).take();
        result.unwrap_or_else(|| {
            Err(StoreError::Database(
                "write batch lost from the commit queue".into(),
            ))
        })
    }

    fn delete_domain(&self, domain_id: &str) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM records WHERE domain_id = ?1", [domain_id])?;
        tx.execute("DELETE FROM domain_keys WHERE domain_id = ?1", [domain_id])?;
        tx.commit()?;
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(domain_id);
        let _ = self.checkpoint(&conn);
        Ok(())
    }
}
