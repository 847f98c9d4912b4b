//! The Voice ID rules over the real SQLite store: expiry under an injectable
//! clock, opt-out removing the stored voiceprint, pagination surviving a restart.

mod common;

use std::sync::Arc;

use common::create_domain;

use voiceprint_store::Kind;
use voiceprint_voiceid::types::*;
use voiceprint_voiceid::{ManualClock, VoiceIdService, THREE_YEARS_SECONDS};

fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> VoiceIdService {
    common::sqlite_service(dir).with_clock(clock)
}


fn describe(svc: &VoiceIdService, dom: &str, id: &str) -> Speaker {
    svc.describe_speaker(SpeakerRequest {
        domain_id: dom.into(),
        speaker_id: id.into(),
    })
    .unwrap()
    .speaker
}

#[test]
fn speaker_expires_after_three_years_without_access() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(1_700_000_000.0));
    let svc = open(dir.path(), clock.clone());
    let dom = create_domain(&svc);
    svc.admin_put_speakers(&dom, vec![("alice".into(), vec![1; 64])], None)
        .unwrap();
    clock.advance(THREE_YEARS_SECONDS - 3600.0);
    assert_eq!(
        describe(&svc, &dom, "alice").status,
        SpeakerStatus::Enrolled
    );
    clock.advance(7200.0);
    assert_eq!(describe(&svc, &dom, "alice").status, SpeakerStatus::Expired);
}

#[test]
fn opt_out_removes_the_stored_voiceprint() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open(dir.path(), Arc::new(ManualClock::at(1_700_000_000.0)));
    let dom = create_domain(&svc);
    let ids = svc
        .admin_put_speakers(&dom, vec![("bob".into(), vec![7; 64])], None)
        .unwrap();
    let before = svc
        .store()
        .get(Kind::Speaker, &dom, &ids[0])
        .unwrap()
        .unwrap();
    assert_eq!(before.voiceprint, Some(vec![7; 64]));
    let out = svc
        .opt_out_speaker(SpeakerRequest {
            domain_id: dom.clone(),
            speaker_id: "bob".into(),
        })
        .unwrap();
    assert_eq!(out.speaker.status, SpeakerStatus::OptedOut);
    let after = svc
        .store()
        .get(Kind::Speaker, &dom, &ids[0])
        .unwrap()
        .unwrap();
    assert_eq!(after.voiceprint, None);
}

#[test]
fn next_token_stays_valid_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(1_700_000_000.0));
    let svc = open(dir.path(), clock.clone());
    let dom = create_domain(&svc);
    let seeded: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| (format!("s{i:03}"), vec![i as u8; 8]))
        .collect();
    let mut all = svc.admin_put_speakers(&dom, seeded, None).unwrap();
    all.sort();
    let list = |svc: &VoiceIdService, token: Option<String>| {
        svc.list_speakers(ListRequest {
            domain_id: dom.clone(),
            max_results: Some(100),
            next_token: token,
            watchlist_id: None,
            job_status: None,
        })
        .unwrap()
    };
    let first = list(&svc, None);
    drop(svc);
    let svc = open(dir.path(), clock);
    let second = list(&svc, first.next_token.clone());
    assert!(second.next_token.is_none());
    let seen: Vec<String> = first
        .speaker_summaries
        .iter()
        .chain(&second.speaker_summaries)
        .map(|s| s.generated_speaker_id.clone())
        .collect();
    assert_eq!(seen, all);
}
