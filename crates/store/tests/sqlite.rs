//! `SqliteStore` through the public `Store` trait on real files: every field round
//! trips, lookups, ordering and pagination, atomic batches, encryption at rest,
//! tamper detection, wrong master key, key rotation (complete and interrupted),
//! real deletion, and reopening.

use std::path::Path;

use serde_json::json;
use voiceprint_store::{
    Keyring, Kind, MasterKey, Record, SqliteStore, Store, StoreError, Write, DB_FILE,
};

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, Keyring::open_or_create(dir).unwrap()).unwrap()
}

fn speaker(domain: &str, id: &str, customer: &str, voiceprint: Option<Vec<u8>>) -> Record {
    Record {
        kind: Kind::Speaker,
        domain_id: domain.into(),
        id: id.into(),
        alt_key: Some(customer.into()),
        attributes: json!({"Status": "ENROLLED", "CreatedAt": 1.5, "n": [1, 2, 3]}),
        sensitive: json!({"CustomerSpeakerId": customer, "Name": format!("name of {customer}")}),
        voiceprint,
    }
}

fn put(store: &SqliteStore, r: Record) {
    store.apply(vec![Write::Put(r)]).unwrap();
}

/// A distinctive, incompressible byte pattern.
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| ((i ^ seed).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every byte of every file in `dir` (database, -wal, -shm, keyring...).
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn every_field_round_trips_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("dom", None).unwrap();
    let with_vp = speaker("dom", "s1", "cust-1", Some(pattern(1, 1024)));
    let without = Record {
        alt_key: None,
        voiceprint: None,
        ..speaker("dom", "s2", "x", None)
    };
    let empty_vp = Record {
        voiceprint: Some(vec![]),
        ..speaker("dom", "s3", "cust-3", None)
    };
    store
        .apply(vec![
            Write::Put(with_vp.clone()),
            Write::Put(without.clone()),
            Write::Put(empty_vp.clone()),
        ])
        .unwrap();
    for r in [&with_vp, &without, &empty_vp] {
        assert_eq!(
            store.get(Kind::Speaker, "dom", &r.id).unwrap().as_ref(),
            Some(r)
        );
    }
    // Same id, other kind or domain: distinct rows.
    assert_eq!(store.get(Kind::Fraudster, "dom", "s1").unwrap(), None);
    assert_eq!(store.get(Kind::Speaker, "other", "s1").unwrap(), None);
    // Overwrite replaces every field.
    let changed = Record {
        attributes: json!({"Status": "OPTED_OUT"}),
        sensitive: json!({}),
        voiceprint: None,
        alt_key: Some("cust-1b".into()),
        ..with_vp.clone()
    };
    put(&store, changed.clone());
    assert_eq!(
        store.get(Kind::Speaker, "dom", "s1").unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        store
            .get_by_alt_key(Kind::Speaker, "dom", "cust-1")
            .unwrap(),
        None
    );
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.get(Kind::Speaker, "dom", "s1").unwrap(),
        Some(changed)
    );
    assert_eq!(
        store.get(Kind::Speaker, "dom", "s3").unwrap(),
        Some(empty_vp)
    );
    store.integrity_check().unwrap();
}

#[test]
fn alt_key_lookup_is_exact_and_scoped_to_kind_and_domain() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("a", None).unwrap();
    store.create_domain_key("b", None).unwrap();
    put(&store, speaker("a", "s1", "cust", None));
    put(&store, speaker("a", "s2", "cust2", None));
    put(&store, speaker("b", "s9", "cust", None));
    assert_eq!(
        store
            .get_by_alt_key(Kind::Speaker, "a", "cust")
            .unwrap()
            .unwrap()
            .id,
        "s1"
    );
    assert_eq!(
        store
            .get_by_alt_key(Kind::Speaker, "b", "cust")
            .unwrap()
            .unwrap()
            .id,
        "s9"
    );
    assert_eq!(
        store.get_by_alt_key(Kind::Speaker, "a", "cus").unwrap(),
        None
    );
    assert_eq!(
        store.get_by_alt_key(Kind::Fraudster, "a", "cust").unwrap(),
        None
    );
    assert_eq!(
        store
            .get_by_alt_key(Kind::Speaker, "no-such-domain", "cust")
            .unwrap(),
        None
    );
}

#[test]
fn list_orders_by_id_and_pages_with_after_id_and_count_matches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    store.create_domain_key("e", None).unwrap();
    // Inserted out of order, in two batches, with other kinds and domains mixed in.
    let ids: Vec<String> = (0..57).map(|i| format!("id{:03}", (i * 37) % 57)).collect();
    let (first, second) = ids.split_at(20);
    for part in [first, second] {
        store
            .apply(
                part.iter()
                    .map(|id| Write::Put(speaker("d", id, id, None)))
                    .collect(),
            )
            .unwrap();
    }
    put(&store, speaker("e", "id000", "z", None));
    put(
        &store,
        Record {
            kind: Kind::Fraudster,
            ..speaker("d", "f1", "z", None)
        },
    );
    let mut expected = ids.clone();
    expected.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(Kind::Speaker, "d", after.as_deref(), 10)
            .unwrap();
        assert!(page.len() <= 10);
        if page.is_empty() {
            break;
        }
        assert!(page
            .iter()
            .all(|r| r.domain_id == "d" && r.kind == Kind::Speaker));
        after = Some(page.last().unwrap().id.clone());
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, expected);
    assert_eq!(
        store
            .list(Kind::Speaker, "d", Some("id050"), 100)
            .unwrap()
            .len(),
        6
    );
    assert_eq!(store.count(Kind::Speaker, "d").unwrap(), 57);
    assert_eq!(store.count(Kind::Speaker, "e").unwrap(), 1);
    assert_eq!(store.count(Kind::Fraudster, "d").unwrap(), 1);
    assert_eq!(store.count(Kind::Watchlist, "d").unwrap(), 0);
}

#[test]
fn domains_list_across_domains_with_empty_domain_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for d in ["zeta", "alpha", "mid"] {
        store.create_domain_key(d, None).unwrap();
        put(
            &store,
            Record {
                kind: Kind::Domain,
                domain_id: d.into(),
                id: d.into(),
                alt_key: None,
                attributes: json!({}),
                sensitive: json!({"Name": d}),
                voiceprint: None,
            },
        );
    }
    let all: Vec<String> = store
        .list(Kind::Domain, "", None, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, ["alpha", "mid", "zeta"]);
    let rest: Vec<String> = store
        .list(Kind::Domain, "", Some("alpha"), 1)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(rest, ["mid"]);
    assert_eq!(store.count(Kind::Domain, "").unwrap(), 3);
}

#[test]
fn a_batch_with_a_failing_write_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    put(&store, speaker("d", "keep", "k", Some(vec![1, 2, 3])));
    let err = store
        .apply(vec![
            Write::Put(speaker("d", "new", "n", None)),
            Write::Delete {
                kind: Kind::Speaker,
                domain_id: "d".into(),
                id: "keep".into(),
            },
            // No data key for this domain: the batch fails here.
            Write::Put(speaker("no-key", "x", "x", None)),
        ])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NoDomainKey(ref d) if d == "no-key"),
        "{err}"
    );
    assert_eq!(store.get(Kind::Speaker, "d", "new").unwrap(), None);
    assert_eq!(
        store
            .get(Kind::Speaker, "d", "keep")
            .unwrap()
            .unwrap()
            .voiceprint,
        Some(vec![1, 2, 3])
    );
    // And a good batch applies every write.
    store
        .apply(vec![
            Write::Put(speaker("d", "new", "n", None)),
            Write::Delete {
                kind: Kind::Speaker,
                domain_id: "d".into(),
                id: "keep".into(),
            },
        ])
        .unwrap();
    assert!(store.get(Kind::Speaker, "d", "new").unwrap().is_some());
    assert_eq!(store.get(Kind::Speaker, "d", "keep").unwrap(), None);
}

#[test]
fn sensitive_fields_alt_keys_and_voiceprints_are_not_on_disk_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    let vp = pattern(7, 768);
    put(
        &store,
        Record {
            sensitive: json!({"Name": "Zebediah Quarterhorse"}),
            ..speaker("d", "s1", "customer-ZX81-secret", Some(vp.clone()))
        },
    );
    let files = all_bytes(dir.path());
    let everything: Vec<u8> = files.iter().flat_map(|(_, b)| b.clone()).collect();
    // The probe sees plaintext attributes, so it would see the secrets if they were there.
    assert!(contains(&everything, b"ENROLLED"));
    assert!(!contains(&everything, b"Zebediah Quarterhorse"));
    assert!(!contains(&everything, b"customer-ZX81-secret"));
    assert!(!contains(&everything, &vp[..32]));
    assert!(!contains(&everything, &vp[400..432]));
}

/// Open the database file directly and run `sql`.
fn raw_sql(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn tampering_is_detected_as_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    for id in ["vp", "sens", "attr", "swap", "dropvp", "alt"] {
        put(
            &store,
            speaker("d", id, &format!("c-{id}"), Some(pattern(3, 64))),
        );
    }
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let mut ct: Vec<u8> = conn
        .query_row(
            "SELECT voiceprint_ct FROM records WHERE id = 'vp'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    ct[5] ^= 1;
    conn.execute(
        "UPDATE records SET voiceprint_ct = ?1 WHERE id = 'vp'",
        [ct],
    )
    .unwrap();
    drop(conn);
    raw_sql(
        dir.path(),
        "UPDATE records SET sensitive_ct = zeroblob(length(sensitive_ct)) WHERE id = 'sens';
         UPDATE records SET attributes = '{\"Status\":\"OPTED_OUT\"}' WHERE id = 'attr';
         UPDATE records SET sensitive_ct = (SELECT sensitive_ct FROM records WHERE id = 'vp'),
                            sensitive_nonce = (SELECT sensitive_nonce FROM records WHERE id = 'vp') WHERE id = 'swap';
         UPDATE records SET voiceprint_ct = NULL, voiceprint_nonce = NULL WHERE id = 'dropvp';
         UPDATE records SET alt_key_hash = (SELECT alt_key_hash FROM records WHERE id = 'vp') WHERE id = 'alt';",
    );
    let store = open(dir.path());
    for id in ["vp", "sens", "attr", "swap", "dropvp", "alt"] {
        match store.get(Kind::Speaker, "d", id) {
            Err(StoreError::Crypto(m)) | Err(StoreError::Corrupt(m)) => {
                assert!(m.contains(id), "{id}: {m}")
            }
            other => panic!("{id}: tampering not detected: {other:?}"),
        }
    }
    // Listing reports the damage too rather than returning wrong data, also
    // when it skips voiceprints (their presence is still authenticated).
    assert!(store.list(Kind::Speaker, "d", None, 10).is_err());
    // One row at a time (ids sorted): only "vp", damaged solely in its voiceprint,
    // lists fine when voiceprints are skipped.
    let ids = ["alt", "attr", "dropvp", "sens", "swap", "vp"];
    for (i, id) in ids.iter().enumerate() {
        let after = i.checked_sub(1).map(|p| ids[p]);
        let row = store.list_without_voiceprints(Kind::Speaker, "d", after, 1);
        match *id {
            "vp" => assert_eq!(row.unwrap()[0].id, "vp"),
            _ => assert!(
                row.is_err(),
                "{id}: tampering not detected without voiceprints"
            ),
        }
    }
}

#[test]
fn flipping_a_byte_of_the_database_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    let vp = pattern(11, 1024);
    put(&store, speaker("d", "s", "c", Some(vp)));
    let ct: Vec<u8> = rusqlite::Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .query_row(
            "SELECT voiceprint_ct FROM records WHERE id = 's'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(store);
    // Move everything into the main file, then flip one ciphertext byte there.
    raw_sql(dir.path(), "PRAGMA wal_checkpoint(TRUNCATE);");
    let db = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &ct[100..164])
        .expect("ciphertext in the file")
        + 10;
    bytes[at] ^= 0x40;
    std::fs::write(&db, bytes).unwrap();
    let store = open(dir.path());
    let err = store.get(Kind::Speaker, "d", "s").unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err}");
}

#[test]
fn a_different_master_key_is_a_clear_error_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    put(&store, speaker("d", "s", "c", None));
    drop(store);
    let other = Keyring::open_with_default(
        tempfile::tempdir().unwrap().path(),
        Some(MasterKey::random()),
    )
    .unwrap();
    let err = SqliteStore::open(dir.path(), other).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Crypto(_)), "{msg}");
    assert!(
        msg.contains("master key 'default'") && msg.contains("domain d"),
        "{msg}"
    );
    // With the right key it still opens.
    assert!(open(dir.path())
        .get(Kind::Speaker, "d", "s")
        .unwrap()
        .is_some());
}

#[test]
fn unknown_keys_are_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.has_key("default").unwrap());
    assert!(!store.has_key("nope").unwrap());
    assert!(
        matches!(store.create_domain_key("d", Some("nope")), Err(StoreError::UnknownKey(k)) if k == "nope")
    );
    store.create_domain_key("d", None).unwrap();
    assert!(matches!(
        store.rotate_domain_key("d", Some("nope")),
        Err(StoreError::UnknownKey(_))
    ));
    assert!(matches!(
        store.rotate_domain_key("none", None),
        Err(StoreError::NoDomainKey(_))
    ));
    // A second data key for the same domain is refused, not silently replaced.
    assert!(store.create_domain_key("d", None).is_err());
}

fn seed(store: &SqliteStore, domain: &str, n: usize) -> Vec<Record> {
    let rows: Vec<Record> = (0..n)
        .map(|i| {
            speaker(
                domain,
                &format!("s{i:04}"),
                &format!("c{i}"),
                Some(pattern(i as u32, 96)),
            )
        })
        .collect();
    store
        .apply(rows.iter().cloned().map(Write::Put).collect())
        .unwrap();
    rows
}

#[test]
fn rotation_re_encrypts_every_row_under_the_new_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut keyring = Keyring::open_or_create(dir.path()).unwrap();
    keyring.create_key("second").unwrap();
    let store = SqliteStore::open(dir.path(), keyring).unwrap();
    store.create_domain_key("d", Some("default")).unwrap();
    let rows = seed(&store, "d", 600);
    let before: Vec<u8> = rusqlite::Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .query_row(
            "SELECT voiceprint_ct FROM records WHERE id = 's0000'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    store.rotate_domain_key("d", Some("second")).unwrap();
    assert_eq!(
        store.domain_key_info("d").unwrap(),
        Some(((2, "second".into()), None))
    );
    for r in &rows {
        assert_eq!(
            store.get(Kind::Speaker, "d", &r.id).unwrap().as_ref(),
            Some(r)
        );
    }
    assert_eq!(
        store
            .get_by_alt_key(Kind::Speaker, "d", "c599")
            .unwrap()
            .unwrap()
            .id,
        "s0599"
    );
    drop(store);
    // The old ciphertext is gone from every file, and only the new key opens the domain.
    for (name, bytes) in all_bytes(dir.path()) {
        assert!(
            !contains(&bytes, &before[..32]),
            "{name} still holds old ciphertext"
        );
    }
    let only_default = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join(DB_FILE), only_default.path().join(DB_FILE)).unwrap();
    let text = std::fs::read_to_string(dir.path().join("keyring")).unwrap();
    let default_line: String = text.lines().filter(|l| l.starts_with("default")).collect();
    std::fs::write(only_default.path().join("keyring"), default_line + "\n").unwrap();
    let s = open(only_default.path());
    assert!(
        matches!(s.get(Kind::Speaker, "d", "s0000"), Err(StoreError::UnknownKey(k)) if k == "second")
    );
}

#[test]
fn an_interrupted_rotation_leaves_rows_readable_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut keyring = Keyring::open_or_create(dir.path()).unwrap();
    keyring.create_key("second").unwrap();
    keyring.create_key("third").unwrap();
    let store = SqliteStore::open(dir.path(), keyring).unwrap();
    store.create_domain_key("d", None).unwrap();
    let rows = seed(&store, "d", 700);
    // One batch of three, then "crash".
    store
        .rotate_domain_key_partially("d", Some("second"), 1)
        .unwrap();
    assert_eq!(
        store.domain_key_info("d").unwrap(),
        Some(((1, "default".into()), Some((2, "second".into()))))
    );
    // Writes during the rotation land under the new key and stay readable.
    let late = speaker("d", "late", "late-c", Some(vec![9; 40]));
    put(&store, late.clone());
    drop(store);
    let store =
        SqliteStore::open(dir.path(), Keyring::open_or_create(dir.path()).unwrap()).unwrap();
    for r in rows.iter().chain([&late]) {
        assert_eq!(
            store.get(Kind::Speaker, "d", &r.id).unwrap().as_ref(),
            Some(r)
        );
    }
    for alt in ["c0", "c699", "late-c"] {
        assert!(
            store
                .get_by_alt_key(Kind::Speaker, "d", alt)
                .unwrap()
                .is_some(),
            "{alt}"
        );
    }
    // Resuming towards another key finishes with that key.
    store.rotate_domain_key("d", Some("third")).unwrap();
    assert_eq!(
        store.domain_key_info("d").unwrap(),
        Some(((2, "third".into()), None))
    );
    assert_eq!(
        store.list(Kind::Speaker, "d", None, 1000).unwrap().len(),
        701
    );
    store.integrity_check().unwrap();
}

#[test]
fn deleted_rows_and_domains_leave_no_bytes_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    store.create_domain_key("gone", None).unwrap();
    seed(&store, "d", 50);
    let victim = pattern(0xfeed, 1024);
    let opted = pattern(0xbeef, 1024);
    let domain_vp = pattern(0xdead, 1024);
    put(&store, speaker("d", "victim", "v", Some(victim.clone())));
    put(&store, speaker("d", "opted", "o", Some(opted.clone())));
    put(&store, speaker("gone", "x", "x", Some(domain_vp.clone())));
    let ct_of = |id: &str| -> Vec<u8> {
        rusqlite::Connection::open(dir.path().join(DB_FILE))
            .unwrap()
            .query_row(
                "SELECT voiceprint_ct FROM records WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    let cts = [ct_of("victim"), ct_of("opted"), ct_of("x")];
    let everything: Vec<u8> = all_bytes(dir.path())
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    for ct in &cts {
        assert!(
            contains(&everything, &ct[..64]),
            "the probe must see stored ciphertext"
        );
    }
    store
        .apply(vec![Write::Delete {
            kind: Kind::Speaker,
            domain_id: "d".into(),
            id: "victim".into(),
        }])
        .unwrap();
    // Overwriting with no voiceprint (opt-out) erases it too.
    put(&store, speaker("d", "opted", "o", None));
    store.delete_domain("gone").unwrap();
    assert_eq!(store.get(Kind::Speaker, "gone", "x").unwrap(), None);
    assert!(matches!(
        store.get_by_alt_key(Kind::Speaker, "gone", "x"),
        Ok(None)
    ));
    assert_eq!(store.domain_key_info("gone").unwrap(), None);
    for (name, bytes) in all_bytes(dir.path()) {
        for ct in &cts {
            assert!(
                !contains(&bytes, &ct[..32]) && !contains(&bytes, &ct[500..532]),
                "{name} holds deleted bytes"
            );
        }
    }
    // The domain's key is gone: writing to it again needs a new one.
    assert!(matches!(
        store.apply(vec![Write::Put(speaker("gone", "y", "y", None))]),
        Err(StoreError::NoDomainKey(_))
    ));
    assert_eq!(store.count(Kind::Speaker, "d").unwrap(), 51);
    store.integrity_check().unwrap();
}

#[test]
fn concurrent_readers_and_a_writer_see_consistent_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    store.create_domain_key("d", None).unwrap();
    seed(&store, "d", 100);
    std::thread::scope(|s| {
        let w = store.clone();
        s.spawn(move || {
            for i in 0..200 {
                put(
                    &w,
                    speaker(
                        "d",
                        &format!("n{i:03}"),
                        &format!("n{i}"),
                        Some(vec![i as u8; 16]),
                    ),
                );
            }
        });
        for _ in 0..3 {
            let r = store.clone();
            s.spawn(move || {
                for i in 0..300 {
                    let rec = r
                        .get(Kind::Speaker, "d", &format!("s{:04}", i % 100))
                        .unwrap()
                        .unwrap();
                    assert_eq!(rec.voiceprint, Some(pattern((i % 100) as u32, 96)));
                    let page = r.list(Kind::Speaker, "d", None, 20).unwrap();
                    assert_eq!(page.len(), 20);
                }
            });
        }
    });
    assert_eq!(store.count(Kind::Speaker, "d").unwrap(), 300);
}

#[test]
fn concurrent_batches_commit_together_but_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    store.create_domain_key("d", None).unwrap();
    let results: Vec<(usize, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                s.spawn(move || {
                    (0..40)
                        .map(|i| {
                            let n = t * 1000 + i;
                            let mut writes = vec![
                                Write::Put(speaker(
                                    "d",
                                    &format!("a{n}"),
                                    &format!("a{n}"),
                                    Some(vec![t as u8; 8]),
                                )),
                                Write::Put(speaker("d", &format!("b{n}"), &format!("b{n}"), None)),
                            ];
                            // Every fifth batch ends with a write that must fail.
                            let fails = i % 5 == 0;
                            if fails {
                                writes.push(Write::Put(speaker("no-key", "x", "x", None)));
                            }
                            let r = store.apply(writes);
                            assert_eq!(r.is_err(), fails, "batch {n}: {r:?}");
                            (n, fails)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for (n, failed) in results {
        for prefix in ["a", "b"] {
            let got = store
                .get(Kind::Speaker, "d", &format!("{prefix}{n}"))
                .unwrap();
            assert_eq!(got.is_none(), failed, "{prefix}{n}");
        }
    }
    assert_eq!(store.count(Kind::Speaker, "d").unwrap(), 8 * 32 * 2);
}

#[test]
fn float_attributes_round_trip_bit_exactly() {
    // Timestamps are f64 seconds; a 1-ulp parse error shows up as a changed
    // microsecond in the API (CreatedAt differing between two reads).
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let stamps: Vec<f64> = (0..2000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1.7e9 + (x % 100_000_000_000_000) as f64 / 1e6
        })
        .collect();
    let rec = Record {
        attributes: json!({"stamps": stamps}),
        sensitive: json!({"stamps": stamps}),
        ..speaker("d", "t", "t", None)
    };
    put(&store, rec.clone());
    let back = store.get(Kind::Speaker, "d", "t").unwrap().unwrap();
    let got: Vec<f64> = serde_json::from_value(back.attributes["stamps"].clone()).unwrap();
    let wrong = stamps
        .iter()
        .zip(&got)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(wrong, 0, "{wrong} of {} timestamps changed", stamps.len());
    assert_eq!(back, rec);
}

#[test]
fn listing_without_voiceprints_matches_list_except_the_voiceprints() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_domain_key("d", None).unwrap();
    seed(&store, "d", 30);
    put(&store, speaker("d", "novp", "novp", None));
    let full = store.list(Kind::Speaker, "d", Some("s0003"), 20).unwrap();
    let light = store
        .list_without_voiceprints(Kind::Speaker, "d", Some("s0003"), 20)
        .unwrap();
    assert_eq!(light.len(), 20);
    assert!(full.iter().any(|r| r.voiceprint.is_some()));
    for (f, l) in full.iter().zip(&light) {
        assert_eq!(
            l,
            &Record {
                voiceprint: None,
                ..f.clone()
            }
        );
    }
    // "novp" sorts first; a row without a voiceprint reads the same both ways.
    let first = store
        .list_without_voiceprints(Kind::Speaker, "d", None, 1)
        .unwrap();
    assert_eq!(first, store.list(Kind::Speaker, "d", None, 1).unwrap());
    assert_eq!(first[0].id, "novp");
}
