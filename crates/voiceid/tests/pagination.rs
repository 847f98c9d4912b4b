//! Pagination under concurrent writes (property test on the real SQLite store):
//! paging through ListSpeakers while another thread enrolls more speakers returns
//! every speaker that existed before the listing began exactly once, and never any
//! speaker twice.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use voiceprint_store::{Keyring, SqliteStore, Store};
use voiceprint_voiceid::types::*;
use voiceprint_voiceid::{ServiceConfig, VoiceIdService};

fn service(dir: &std::path::Path) -> Arc<VoiceIdService> {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir, Keyring::open_or_create(dir).unwrap()).unwrap());
    Arc::new(VoiceIdService::new(
        store,
        ServiceConfig::default(),
        b"stable-token-key",
    ))
}

fn customer_ids(prefix: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("{prefix}-{i:05}"), vec![1; 16]))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_existing_speaker_once_under_concurrent_inserts(existing in 1usize..250, page in 1i64..=100, inserted in 0usize..200) {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path());
        let domain = common::create_domain(&svc);
        let before: HashSet<String> = svc.admin_put_speakers(&domain, customer_ids("old", existing), None).unwrap().into_iter().collect();

        let writer = {
            let (svc, domain) = (svc.clone(), domain.clone());
            std::thread::spawn(move || {
                for chunk in customer_ids("new", inserted).chunks(7) {
                    svc.admin_put_speakers(&domain, chunk.to_vec(), None).unwrap();
                }
            })
        };
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let resp = svc
                .list_speakers(ListRequest { domain_id: domain.clone(), max_results: Some(page), next_token: token.take(), watchlist_id: None, job_status: None })
                .unwrap();
            prop_assert!(resp.speaker_summaries.len() as i64 <= page);
            seen.extend(resp.speaker_summaries.into_iter().map(|s| s.generated_speaker_id));
            match resp.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        writer.join().unwrap();
        let unique: HashSet<&String> = seen.iter().collect();
        prop_assert_eq!(unique.len(), seen.len(), "a speaker was listed twice");
        for id in &before {
            prop_assert!(unique.contains(id), "speaker {} was skipped", id);
        }
    }
}
