//! Property tests of the encrypted row format on the real SQLite store: any record
//! round-trips exactly, and any single-byte change to a stored ciphertext, nonce or
//! bound attribute is refused as an error (never a panic, never other data).

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::json;
use voiceprint_store::{Keyring, Kind, Record, SqliteStore, Store, StoreError, Write, DB_FILE};

/// One store for all cases (opening one per case would dominate the run time).
fn shared() -> &'static (tempfile::TempDir, SqliteStore) {
    static STORE: OnceLock<(tempfile::TempDir, SqliteStore)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path(), Keyring::open_or_create(dir.path()).unwrap()).unwrap();
        store.create_domain_key("dom", None).unwrap();
        (dir, store)
    })
}

fn db_path() -> PathBuf {
    shared().0.path().join(DB_FILE)
}

fn record() -> impl Strategy<Value = Record> {
    (
        "[a-zA-Z0-9_#-]{1,40}",
        proptest::option::of("[ -~]{1,60}"),
        any::<i64>(),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        "\\PC{0,80}",
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..1024)),
    )
        .prop_map(|(id, alt_key, n, f, name, voiceprint)| Record {
            kind: Kind::Speaker,
            domain_id: "dom".into(),
            id,
            alt_key,
            attributes: json!({"n": n, "f": f, "list": [1, "two", null]}),
            sensitive: json!({"Name": name}),
            voiceprint,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_record_round_trips(r in record()) {
        let (_, store) = shared();
        // A previous case may have left the same alt key on another id.
        if let Some(alt) = &r.alt_key {
            if let Some(other) = store.get_by_alt_key(Kind::Speaker, "dom", alt).unwrap() {
                store.apply(vec![Write::Delete { kind: Kind::Speaker, domain_id: "dom".into(), id: other.id }]).unwrap();
            }
        }
        store.apply(vec![Write::Put(r.clone())]).unwrap();
        prop_assert_eq!(store.get(Kind::Speaker, "dom", &r.id).unwrap(), Some(r.clone()));
        if let Some(alt) = &r.alt_key {
            prop_assert_eq!(store.get_by_alt_key(Kind::Speaker, "dom", alt).unwrap().map(|x| x.id), Some(r.id.clone()));
        }
    }

    #[test]
    fn any_flipped_byte_is_refused(
        r in record(),
        column in prop::sample::select(vec!["sensitive_ct", "sensitive_nonce", "voiceprint_ct", "voiceprint_nonce", "attributes"]),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (_, store) = shared();
        let r = Record { id: format!("tamper-{}", r.id), alt_key: None, voiceprint: Some(r.voiceprint.unwrap_or_else(|| vec![7; 64])), ..r };
        store.apply(vec![Write::Put(r.clone())]).unwrap();
        let conn = rusqlite::Connection::open(db_path()).unwrap();
        let select = format!("SELECT {column} FROM records WHERE kind = 3 AND domain_id = 'dom' AND id = ?1");
        let update = format!("UPDATE records SET {column} = ?1 WHERE kind = 3 AND domain_id = 'dom' AND id = ?2");
        if column == "attributes" {
            // Still valid JSON, different bytes: the attributes are bound to the
            // sealed part, so even a harmless-looking edit is refused.
            let text: String = conn.query_row(&select, [&r.id], |row| row.get(0)).unwrap();
            conn.execute(&update, rusqlite::params![format!("{text} "), r.id]).unwrap();
        } else {
            let mut bytes: Vec<u8> = conn.query_row(&select, [&r.id], |row| row.get(0)).unwrap();
            let i = position.index(bytes.len());
            bytes[i] ^= 1 << bit;
            conn.execute(&update, rusqlite::params![bytes, r.id]).unwrap();
        }
        match store.get(Kind::Speaker, "dom", &r.id) {
            Err(StoreError::Crypto(_)) | Err(StoreError::Corrupt(_)) => {}
            other => prop_assert!(false, "tampered {column} gave {other:?}"),
        }
        store.apply(vec![Write::Delete { kind: Kind::Speaker, domain_id: "dom".into(), id: r.id.clone() }]).unwrap();
    }
}
