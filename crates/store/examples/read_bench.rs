//! Read throughput of `SqliteStore` on a large domain: the store's share of
//! DescribeSpeaker (get by id) and ListSpeakers (pages of 100).
//!
//! `cargo run --release -p voiceprint-store --example read_bench -- [SPEAKERS] [THREADS] [SECONDS] [VOICEPRINT_BYTES]`
//! (defaults 100000, 2, 3), optionally VOICEPRINT_BYTES (default 768). Seeds a temporary data directory, then reports
//! operations per second for each read pattern.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use voiceprint_store::{Keyring, Kind, Record, SqliteStore, Store, Write};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let speakers = args.first().copied().unwrap_or(100_000);
    let threads = args.get(1).copied().unwrap_or(2);
    let seconds = args.get(2).copied().unwrap_or(3);
    // 768 = a 192-dimensional f32 embedding (CAM++).
    let voiceprint_bytes = args.get(3).copied().unwrap_or(768) as usize;
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(
        SqliteStore::open(dir.path(), Keyring::open_or_create(dir.path()).unwrap()).unwrap(),
    );
    store.create_domain_key("bench", None).unwrap();

    let started = Instant::now();
    for chunk in (0..speakers).collect::<Vec<_>>().chunks(1000) {
        let writes = chunk
            .iter()
            .map(|&i| {
                Write::Put(Record {
                    kind: Kind::Speaker,
                    domain_id: "bench".into(),
                    id: format!("{i:022}"),
                    alt_key: Some(format!("customer-{i}")),
                    attributes: json!({"Status": "ENROLLED", "CreatedAt": 1.7e9, "UpdatedAt": 1.7e9, "LastAccessedAt": 1.7e9}),
                    sensitive: json!({"CustomerSpeakerId": format!("customer-{i}")}),
                    voiceprint: Some(vec![(i % 251) as u8; voiceprint_bytes]),
                })
            })
            .collect();
        store.apply(writes).unwrap();
    }
    let seed_s = started.elapsed().as_secs_f64();
    println!(
        "seeded {speakers} speakers in {seed_s:.1} s ({:.0} rows/s, batches of 1000)",
        speakers as f64 / seed_s
    );

    let single = Instant::now();
    let n = 2000;
    for i in 0..n {
        store.apply(vec![token_write(format!("t{i}"))]).unwrap();
    }
    println!(
        "single-row durable writes, 1 writer: {:.0} /s",
        n as f64 / single.elapsed().as_secs_f64()
    );
    let writers = 8;
    let concurrent = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..writers {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..n / writers {
                    store.apply(vec![token_write(format!("w{w}-{i}"))]).unwrap();
                }
            });
        }
    });
    println!(
        "single-row durable writes, {writers} writers (group commit): {:.0} /s",
        n as f64 / concurrent.elapsed().as_secs_f64()
    );

    type Op = fn(&SqliteStore, u64, u64);
    let ops: [(&str, Op); 4] = [
        ("get by id (DescribeSpeaker)", |s, i, n| {
            s.get(
                Kind::Speaker,
                "bench",
                &format!("{:022}", i.wrapping_mul(7919) % n),
            )
            .unwrap()
            .unwrap();
        }),
        ("get by alt key (CustomerSpeakerId)", |s, i, n| {
            s.get_by_alt_key(
                Kind::Speaker,
                "bench",
                &format!("customer-{}", i.wrapping_mul(7919) % n),
            )
            .unwrap()
            .unwrap();
        }),
        ("list 100 after id (ListSpeakers page)", |s, i, n| {
            let after = format!(
                "{:022}",
                i.wrapping_mul(7919) % n.saturating_sub(100).max(1)
            );
            assert_eq!(
                s.list(Kind::Speaker, "bench", Some(&after), 100)
                    .unwrap()
                    .len(),
                100
            );
        }),
        (
            "list 100 without voiceprints (what ListSpeakers uses)",
            |s, i, n| {
                let after = format!(
                    "{:022}",
                    i.wrapping_mul(7919) % n.saturating_sub(100).max(1)
                );
                let page = s
                    .list_without_voiceprints(Kind::Speaker, "bench", Some(&after), 100)
                    .unwrap();
                assert_eq!(page.len(), 100);
            },
        ),
    ];
    for (name, op) in ops {
        let cpu_before = process_cpu_seconds();
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (store, done) = (store.clone(), done.clone());
                scope.spawn(move || {
                    let mut i = t * 1_000_003;
                    while Instant::now() < deadline {
                        op(&store, i, speakers);
                        i += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let done = done.load(Ordering::Relaxed) as f64;
        // On a shared machine wall-clock rates swing with other load; operations
        // per CPU-second of this process are the stable figure.
        let per_cpu = match (cpu_before, process_cpu_seconds()) {
            (Some(a), Some(b)) if b > a => format!(", {:.0} ops per CPU-second", done / (b - a)),
            _ => String::new(),
        };
        println!(
            "{name}: {:.0} ops/s on {threads} threads{per_cpu}",
            done / seconds as f64
        );
    }
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, 100 Hz ticks).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A small idempotency-token row: the cheapest durable write.
fn token_write(id: String) -> Write {
    Write::Put(Record {
        kind: Kind::ClientToken,
        domain_id: "bench".into(),
        id,
        alt_key: None,
        attributes: json!({}),
        sensitive: json!({}),
        voiceprint: None,
    })
}
