//! In-memory `Store` for this crate's unit tests only (the server and integration
//! tests use the real SQLite store).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use voiceprint_store::{Kind, Record, Result, Store, StoreError, Write};

#[derive(Default)]
pub(crate) struct MemStore {
    rows: Mutex<BTreeMap<(String, String, String), Record>>,
    pub keys: Mutex<HashSet<String>>,
}

fn kind_name(k: Kind) -> String {
    format!("{k:?}")
}

impl MemStore {
    pub fn with_keys(keys: &[&str]) -> Self {
        let s = MemStore::default();
        s.keys
            .lock()
            .unwrap()
            .extend(keys.iter().map(|k| k.to_string()));
        s
    }
}

impl Store for MemStore {
    fn create_domain_key(&self, _d: &str, kms: Option<&str>) -> Result<()> {
        match kms {
            Some(k) if !self.keys.lock().unwrap().contains(k) => {
                Err(StoreError::UnknownKey(k.into()))
            }
            _ => Ok(()),
        }
    }
    fn rotate_domain_key(&self, d: &str, kms: Option<&str>) -> Result<()> {
        self.create_domain_key(d, kms)
    }
    fn has_key(&self, k: &str) -> Result<bool> {
        Ok(self.keys.lock().unwrap().contains(k))
    }
    fn get(&self, kind: Kind, d: &str, id: &str) -> Result<Option<Record>> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .get(&(kind_name(kind), d.into(), id.into()))
            .cloned())
    }
    fn get_by_alt_key(&self, kind: Kind, d: &str, alt: &str) -> Result<Option<Record>> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .find(|r| r.kind == kind && r.domain_id == d && r.alt_key.as_deref() == Some(alt))
            .cloned())
    }
    fn list(&self, kind: Kind, d: &str, after: Option<&str>, limit: usize) -> Result<Vec<Record>> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.kind == kind && (kind == Kind::Domain || r.domain_id == d))
            .filter(|r| after.is_none_or(|a| r.id.as_str() > a))
            .take(limit)
            .cloned()
            .collect())
    }
    fn count(&self, kind: Kind, d: &str) -> Result<u64> {
        Ok(self.list(kind, d, None, usize::MAX)?.len() as u64)
    }
    fn apply(&self, writes: Vec<Write>) -> Result<()> {
        let mut rows = self.rows.lock().unwrap();
        for w in writes {
            match w {
                Write::Put(r) => {
                    rows.insert((kind_name(r.kind), r.domain_id.clone(), r.id.clone()), r);
                }
                Write::Delete {
                    kind,
                    domain_id,
                    id,
                } => {
                    rows.remove(&(kind_name(kind), domain_id, id));
                }
            }
        }
        Ok(())
    }
    fn delete_domain(&self, d: &str) -> Result<()> {
        self.rows.lock().unwrap().retain(|(_, dom, _), _| dom != d);
        Ok(())
    }
}
