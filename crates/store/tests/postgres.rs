//! `PostgresStore` against a real PostgreSQL server: the `Store` contract (round
//! trips, lookups, ordering, atomic batches), encryption at rest, key rotation, and
//! two nodes (two stores over one database) seeing each other's writes and keys.
//!
//! Needs `VOICEPRINT_TEST_DATABASE_URL` naming a server where the user may create
//! databases, in key=value form (e.g. `host=127.0.0.1 port=55432 user=voiceprint`);
//! `scripts/pg-test-server.sh` starts a throwaway one. Each test makes and drops its
//! own database. Without the variable the tests skip with a message.

use std::sync::Arc;

use serde_json::json;
use voiceprint_store::{Keyring, Kind, PostgresStore, Record, Store, StoreError, Write};

const URL_ENV: &str = "VOICEPRINT_TEST_DATABASE_URL";

/// A database of its own for one test, dropped at the end.
struct TestDb {
    admin_url: String,
    name: String,
}

impl TestDb {
    fn new(test: &str) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(URL_ENV) else {
            eprintln!("SKIP {test}: set {URL_ENV} (scripts/pg-test-server.sh starts a server)");
            return None;
        };
        let name = format!("vp_{}_{}", test, std::process::id());
        let mut admin =
            postgres::Client::connect(&format!("{admin_url} dbname=postgres"), postgres::NoTls)
                .expect("connect to the test server");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Some(TestDb { admin_url, name })
    }

    fn url(&self) -> String {
        format!("{} dbname={}", self.admin_url, self.name)
    }

    fn store(&self, keyring: Keyring) -> PostgresStore {
        PostgresStore::connect(&self.url(), keyring).unwrap()
    }

    fn sql(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(
            &format!("{} dbname=postgres", self.admin_url),
            postgres::NoTls,
        ) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn keyring(dir: &std::path::Path) -> Keyring {
    Keyring::open_or_create(dir).unwrap()
}

fn speaker(domain: &str, id: &str, customer: &str, voiceprint: Option<Vec<u8>>) -> Record {
    Record {
        kind: Kind::Speaker,
        domain_id: domain.into(),
        id: id.into(),
        alt_key: Some(customer.into()),
        attributes: json!({"Status": "ENROLLED", "CreatedAt": 1_700_000_000.123_456, "n": [1, 2, 3]}),
        sensitive: json!({"CustomerSpeakerId": customer, "Name": format!("name of {customer}")}),
        voiceprint,
    }
}

fn pattern(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| ((i ^ seed).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn records_round_trip_list_in_byte_order_and_batches_are_atomic() {
    let Some(db) = TestDb::new("roundtrip") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = db.store(keyring(dir.path()));
    store.create_domain_key("dom", None).unwrap();
    let with_vp = speaker("dom", "s1", "cust-1", Some(pattern(1, 768)));
    let without = speaker("dom", "s2", "cust-2", None);
    store
        .apply(vec![
            Write::Put(with_vp.clone()),
            Write::Put(without.clone()),
        ])
        .unwrap();
    assert_eq!(
        store.get(Kind::Speaker, "dom", "s1").unwrap(),
        Some(with_vp.clone())
    );
    assert_eq!(
        store.get(Kind::Speaker, "dom", "s2").unwrap(),
        Some(without)
    );
    assert_eq!(
        store
            .get_by_alt_key(Kind::Speaker, "dom", "cust-1")
            .unwrap(),
        Some(with_vp)
    );
    assert_eq!(
        store
            .get_by_alt_key(Kind::Speaker, "dom", "cust-9")
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_by_alt_key(Kind::Fraudster, "dom", "cust-1")
            .unwrap(),
        None
    );

    // Byte order (uppercase before lowercase), paging with after_id, and counts.
    for id in ["b", "B", "a", "_x", "Z9"] {
        store
            .apply(vec![Write::Put(speaker(
                "dom",
                id,
                &format!("c{id}"),
                None,
            ))])
            .unwrap();
    }
    let ids: Vec<String> = store
        .list(Kind::Speaker, "dom", None, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "byte order like SQLite");
    let page: Vec<String> = store
        .list(Kind::Speaker, "dom", Some("Z9"), 2)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(page, vec!["_x", "a"]);
    assert_eq!(store.count(Kind::Speaker, "dom").unwrap(), 7);
    let light = store
        .list_without_voiceprints(Kind::Speaker, "dom", None, 100)
        .unwrap();
    assert!(light.iter().all(|r| r.voiceprint.is_none()));

    // A batch with a write to a domain without a key applies nothing.
    let err = store
        .apply(vec![
            Write::Put(speaker("dom", "s3", "cust-3", None)),
            Write::Put(speaker("nokey", "s1", "c", None)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::NoDomainKey(_)), "{err:?}");
    assert_eq!(store.get(Kind::Speaker, "dom", "s3").unwrap(), None);

    store
        .apply(vec![Write::Delete {
            kind: Kind::Speaker,
            domain_id: "dom".into(),
            id: "s1".into(),
        }])
        .unwrap();
    assert_eq!(store.get(Kind::Speaker, "dom", "s1").unwrap(), None);
    store.delete_domain("dom").unwrap();
    assert_eq!(store.count(Kind::Speaker, "dom").unwrap(), 0);
    assert!(matches!(
        store.apply(vec![Write::Put(speaker("dom", "x", "y", None))]),
        Err(StoreError::NoDomainKey(_))
    ));
}

#[test]
fn the_database_holds_only_ciphertext_of_sensitive_data() {
    let Some(db) = TestDb::new("ciphertext") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = db.store(keyring(dir.path()));
    store.create_domain_key("dom", None).unwrap();
    let voiceprint = pattern(7, 768);
    store
        .apply(vec![Write::Put(speaker(
            "dom",
            "s1",
            "customer-4711",
            Some(voiceprint.clone()),
        ))])
        .unwrap();
    let mut sql = db.sql();
    let row = sql.query_one("SELECT sensitive_ct, voiceprint_ct, alt_key_hash, wrapped_key FROM records, domain_keys", &[]).unwrap();
    let (sensitive, vp, alt, wrapped): (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    for blob in [&sensitive, &vp, &alt, &wrapped] {
        assert!(!contains(blob, b"customer-4711"));
        assert!(!contains(blob, &voiceprint[..32]));
    }
    // Tampering with a ciphertext is an error, not a panic or wrong data.
    sql.execute("UPDATE records SET voiceprint_ct = set_byte(voiceprint_ct, 3, get_byte(voiceprint_ct, 3) # 1)", &[]).unwrap();
    let err = store.get(Kind::Speaker, "dom", "s1").unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err:?}");
    // Another keyring cannot open the domain.
    let other = tempfile::tempdir().unwrap();
    let stranger = db.store(keyring(other.path()));
    assert!(matches!(
        stranger.get(Kind::Speaker, "dom", "s1"),
        Err(StoreError::Crypto(_))
    ));
}

#[test]
fn two_nodes_share_rows_and_a_key_rotation() {
    let Some(db) = TestDb::new("twonodes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ring = keyring(dir.path());
    ring.create_key("second").unwrap();
    // Both nodes hold the same keyring file (copied, as an operator would).
    let node_a = db.store(Keyring::open_or_create(dir.path()).unwrap());
    let node_b = db.store(Keyring::open_or_create(dir.path()).unwrap());
    node_a.create_domain_key("dom", None).unwrap();
    let rows: Vec<Record> = (0..300)
        .map(|i| {
            speaker(
                "dom",
                &format!("s{i:04}"),
                &format!("c{i}"),
                Some(pattern(i, 64)),
            )
        })
        .collect();
    node_a
        .apply(rows.iter().cloned().map(Write::Put).collect())
        .unwrap();
    // B cached the key before the rotation; it must notice A's rotation.
    assert_eq!(
        node_b.get(Kind::Speaker, "dom", "s0000").unwrap().as_ref(),
        Some(&rows[0])
    );
    node_a.rotate_domain_key("dom", Some("second")).unwrap();
    assert_eq!(
        node_b.get(Kind::Speaker, "dom", "s0299").unwrap().as_ref(),
        Some(&rows[299])
    );
    assert_eq!(
        node_b
            .get_by_alt_key(Kind::Speaker, "dom", "c150")
            .unwrap()
            .unwrap()
            .id,
        "s0150"
    );
    // B writes with the new key; A reads it.
    node_b
        .apply(vec![Write::Put(speaker(
            "dom",
            "s9999",
            "c9999",
            Some(pattern(9, 64)),
        ))])
        .unwrap();
    let gens: Vec<i64> = db
        .sql()
        .query("SELECT DISTINCT key_generation FROM records", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(gens, vec![2], "every row under the new key");
    assert!(node_a.get(Kind::Speaker, "dom", "s9999").unwrap().is_some());
}

#[test]
fn concurrent_writers_on_two_nodes_lose_nothing() {
    let Some(db) = TestDb::new("concurrent") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Arc<PostgresStore>> = (0..2)
        .map(|_| Arc::new(db.store(Keyring::open_or_create(dir.path()).unwrap())))
        .collect();
    nodes[0].create_domain_key("dom", None).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let node = nodes[t % 2].clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let id = format!("t{t}-{i:03}");
                    node.apply(vec![Write::Put(speaker(
                        "dom",
                        &id,
                        &id,
                        Some(pattern(i, 32)),
                    ))])
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(nodes[1].count(Kind::Speaker, "dom").unwrap(), 400);
    let listed = nodes[0].list(Kind::Speaker, "dom", None, 1000).unwrap();
    assert_eq!(listed.len(), 400);
}
