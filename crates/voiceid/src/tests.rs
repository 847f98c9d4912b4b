//! Unit tests of the domain rules over the in-memory store.

use std::sync::Arc;

use crate::memstore::MemStore;
use crate::types::*;
use crate::*;

fn service() -> (VoiceIdService, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(1_700_000_000.0));
    let store = Arc::new(MemStore::with_keys(&["default", "other"]));
    let svc =
        VoiceIdService::new(store, ServiceConfig::default(), b"test-key").with_clock(clock.clone());
    (svc, clock)
}

fn create_domain(svc: &VoiceIdService, name: &str, token: Option<&str>) -> Result<Domain> {
    svc.create_domain(CreateDomainRequest {
        client_token: token.map(str::to_owned),
        description: Some("desc".into()),
        name: name.into(),
        server_side_encryption_configuration: ServerSideEncryptionConfiguration {
            kms_key_id: "default".into(),
        },
        tags: None,
    })
    .map(|r| r.domain)
}

fn list(domain: &str) -> ListRequest {
    ListRequest {
        domain_id: domain.into(),
        max_results: None,
        next_token: None,
        watchlist_id: None,
        job_status: None,
    }
}

#[test]
fn domain_gets_default_watchlist_that_cannot_be_deleted_or_updated() {
    let (svc, _) = service();
    let d = create_domain(&svc, "d1", None).unwrap();
    assert!(ids::is_id22(&d.domain_id));
    assert_eq!(
        d.arn,
        format!(
            "arn:aws:voiceid:us-east-1:000000000000:domain/{}",
            d.domain_id
        )
    );
    let wid = d.watchlist_details.default_watchlist_id.clone();
    let w = svc
        .describe_watchlist(WatchlistRequest {
            domain_id: d.domain_id.clone(),
            watchlist_id: wid.clone(),
        })
        .unwrap()
        .watchlist;
    assert!(w.default_watchlist);
    let err = svc.delete_watchlist(WatchlistRequest {
        domain_id: d.domain_id.clone(),
        watchlist_id: wid.clone(),
    });
    assert!(matches!(err, Err(Error::Validation(_))), "{err:?}");
    let err = svc.update_watchlist(UpdateWatchlistRequest {
        description: None,
        domain_id: d.domain_id.clone(),
        name: Some("x".into()),
        watchlist_id: wid,
    });
    assert!(matches!(err, Err(Error::Validation(_))));
}

#[test]
fn domain_quota_unknown_key_and_not_found() {
    let (svc, _) = service();
    for i in 0..3 {
        create_domain(&svc, &format!("d{i}"), None).unwrap();
    }
    assert!(matches!(
        create_domain(&svc, "d4", None),
        Err(Error::ServiceQuotaExceeded(_))
    ));
    let (svc, _) = service();
    let err = svc.create_domain(CreateDomainRequest {
        client_token: None,
        description: None,
        name: "x".into(),
        server_side_encryption_configuration: ServerSideEncryptionConfiguration {
            kms_key_id: "nope".into(),
        },
        tags: None,
    });
    assert!(matches!(err, Err(Error::Validation(_))));
    let err = svc.describe_domain(DomainIdRequest {
        domain_id: "A".repeat(22),
    });
    assert!(matches!(
        err,
        Err(Error::ResourceNotFound {
            resource_type: ResourceType::Domain,
            ..
        })
    ));
}

#[test]
fn client_token_replays_same_request_and_refuses_a_different_one() {
    let (svc, _) = service();
    let a = create_domain(&svc, "same", Some("tok-1")).unwrap();
    let b = create_domain(&svc, "same", Some("tok-1")).unwrap();
    assert_eq!(a, b);
    assert!(matches!(
        create_domain(&svc, "different", Some("tok-1")),
        Err(Error::Validation(_))
    ));
    let c = create_domain(&svc, "same", Some("tok-2")).unwrap();
    assert_ne!(a.domain_id, c.domain_id);
    let w1 = svc
        .create_watchlist(CreateWatchlistRequest {
            client_token: Some("t".into()),
            description: None,
            domain_id: a.domain_id.clone(),
            name: "w".into(),
        })
        .unwrap();
    let w2 = svc
        .create_watchlist(CreateWatchlistRequest {
            client_token: Some("t".into()),
            description: None,
            domain_id: a.domain_id.clone(),
            name: "w".into(),
        })
        .unwrap();
    assert_eq!(w1, w2);
    assert_eq!(
        svc.list_watchlists(list(&a.domain_id))
            .unwrap()
            .watchlist_summaries
            .len(),
        2
    );
}

#[test]
fn fraudster_must_keep_one_watchlist_and_non_empty_watchlist_cannot_go() {
    let (svc, _) = service();
    let d = create_domain(&svc, "d", None).unwrap();
    let dom = d.domain_id.clone();
    let w = svc
        .create_watchlist(CreateWatchlistRequest {
            client_token: None,
            description: None,
            domain_id: dom.clone(),
            name: "w".into(),
        })
        .unwrap()
        .watchlist;
    let f = svc
        .admin_put_fraudster(&dom, vec![], vec![1, 2, 3])
        .unwrap();
    let req = |wid: &str| FraudsterWatchlistRequest {
        domain_id: dom.clone(),
        fraudster_id: f.clone(),
        watchlist_id: wid.into(),
    };
    let default_id = d.watchlist_details.default_watchlist_id.clone();
    let err = svc.disassociate_fraudster(req(&default_id));
    assert!(matches!(
        err,
        Err(Error::Conflict {
            conflict_type: ConflictType::FraudsterMustBelongToAtLeastOneWatchlist,
            ..
        })
    ));
    let fr = svc
        .associate_fraudster(req(&w.watchlist_id))
        .unwrap()
        .fraudster;
    assert_eq!(
        fr.watchlist_ids,
        vec![default_id.clone(), w.watchlist_id.clone()]
    );
    let err = svc.delete_watchlist(WatchlistRequest {
        domain_id: dom.clone(),
        watchlist_id: w.watchlist_id.clone(),
    });
    assert!(matches!(
        err,
        Err(Error::Conflict {
            conflict_type: ConflictType::CannotDeleteNonEmptyWatchlist,
            ..
        })
    ));
    let mut filtered = list(&dom);
    filtered.watchlist_id = Some(w.watchlist_id.clone());
    assert_eq!(
        svc.list_fraudsters(filtered)
            .unwrap()
            .fraudster_summaries
            .len(),
        1
    );
    svc.disassociate_fraudster(req(&w.watchlist_id)).unwrap();
    svc.delete_watchlist(WatchlistRequest {
        domain_id: dom.clone(),
        watchlist_id: w.watchlist_id,
    })
    .unwrap();
    svc.delete_fraudster(FraudsterRequest {
        domain_id: dom.clone(),
        fraudster_id: f.clone(),
    })
    .unwrap();
    let err = svc.describe_fraudster(FraudsterRequest {
        domain_id: dom,
        fraudster_id: f,
    });
    assert!(matches!(
        err,
        Err(Error::ResourceNotFound {
            resource_type: ResourceType::Fraudster,
            ..
        })
    ));
}

#[test]
fn speakers_by_either_id_opt_out_and_expiry_under_a_manual_clock() {
    let (svc, clock) = service();
    let dom = create_domain(&svc, "d", None).unwrap().domain_id;
    let ids = svc
        .admin_put_speakers(&dom, vec![("cust-1".into(), vec![9; 16])], None)
        .unwrap();
    let by_customer = svc
        .describe_speaker(SpeakerRequest {
            domain_id: dom.clone(),
            speaker_id: "cust-1".into(),
        })
        .unwrap();
    let by_generated = svc
        .describe_speaker(SpeakerRequest {
            domain_id: dom.clone(),
            speaker_id: ids[0].clone(),
        })
        .unwrap();
    assert_eq!(by_customer, by_generated);
    assert_eq!(by_customer.speaker.status, SpeakerStatus::Enrolled);
    // Just under three years: still enrolled; past it: expired.
    clock.advance(THREE_YEARS_SECONDS - 10.0);
    let s = svc
        .describe_speaker(SpeakerRequest {
            domain_id: dom.clone(),
            speaker_id: "cust-1".into(),
        })
        .unwrap();
    assert_eq!(s.speaker.status, SpeakerStatus::Enrolled);
    clock.advance(20.0);
    let s = svc
        .describe_speaker(SpeakerRequest {
            domain_id: dom.clone(),
            speaker_id: "cust-1".into(),
        })
        .unwrap();
    assert_eq!(s.speaker.status, SpeakerStatus::Expired);
    assert_eq!(
        svc.list_speakers(list(&dom)).unwrap().speaker_summaries[0].status,
        SpeakerStatus::Expired
    );
    // Opting out removes the voiceprint.
    let o = svc
        .opt_out_speaker(SpeakerRequest {
            domain_id: dom.clone(),
            speaker_id: "cust-1".into(),
        })
        .unwrap();
    assert_eq!(o.speaker.status, SpeakerStatus::OptedOut);
    let rec = svc
        .store()
        .get(voiceprint_store::Kind::Speaker, &dom, &ids[0])
        .unwrap()
        .unwrap();
    assert_eq!(rec.voiceprint, None);
    // Unknown customer id: a new OPTED_OUT record; unknown generated id: not found.
    let n = svc
        .opt_out_speaker(SpeakerRequest {
            domain_id: dom.clone(),
            speaker_id: "new-cust".into(),
        })
        .unwrap();
    assert_eq!(n.speaker.status, SpeakerStatus::OptedOut);
    assert_eq!(n.speaker.customer_speaker_id.as_deref(), Some("new-cust"));
    let err = svc.opt_out_speaker(SpeakerRequest {
        domain_id: dom.clone(),
        speaker_id: ids::new_generated_id(),
    });
    assert!(matches!(
        err,
        Err(Error::ResourceNotFound {
            resource_type: ResourceType::Speaker,
            ..
        })
    ));
    svc.delete_speaker(SpeakerRequest {
        domain_id: dom.clone(),
        speaker_id: "cust-1".into(),
    })
    .unwrap();
    assert!(svc
        .store()
        .get(voiceprint_store::Kind::Speaker, &dom, &ids[0])
        .unwrap()
        .is_none());
}

#[test]
fn pagination_covers_every_speaker_once_and_refuses_foreign_tokens() {
    let (svc, _) = service();
    let dom = create_domain(&svc, "d", None).unwrap().domain_id;
    let other = create_domain(&svc, "e", None).unwrap().domain_id;
    let seeded: Vec<(String, Vec<u8>)> =
        (0..25).map(|i| (format!("c{i}"), vec![i as u8])).collect();
    let mut expected = svc.admin_put_speakers(&dom, seeded, None).unwrap();
    expected.sort();
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let mut req = list(&dom);
        req.max_results = Some(10);
        req.next_token = token.clone();
        let resp = svc.list_speakers(req).unwrap();
        assert!(resp.speaker_summaries.len() <= 10);
        seen.extend(
            resp.speaker_summaries
                .into_iter()
                .map(|s| s.generated_speaker_id),
        );
        pages += 1;
        match resp.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    // A token for one domain is refused for another, and MaxResults is bounded.
    let mut req = list(&dom);
    req.max_results = Some(10);
    let t = svc.list_speakers(req).unwrap().next_token.unwrap();
    let mut foreign = list(&other);
    foreign.next_token = Some(t);
    assert!(matches!(
        svc.list_speakers(foreign),
        Err(Error::Validation(_))
    ));
    let mut too_many = list(&dom);
    too_many.max_results = Some(101);
    assert!(matches!(
        svc.list_speakers(too_many),
        Err(Error::Validation(_))
    ));
}

#[test]
fn update_domain_clobbers_description_and_rotates_key_in_background() {
    let (svc, _) = service();
    let d = create_domain(&svc, "d", None).unwrap();
    let upd = |key: &str| UpdateDomainRequest {
        description: None,
        domain_id: d.domain_id.clone(),
        name: "renamed".into(),
        server_side_encryption_configuration: ServerSideEncryptionConfiguration {
            kms_key_id: key.into(),
        },
    };
    let r = svc.update_domain(upd("default")).unwrap().domain;
    assert_eq!(r.description, None);
    assert_eq!(r.server_side_encryption_update_details, None);
    assert!(matches!(
        svc.update_domain(upd("missing")),
        Err(Error::Validation(_))
    ));
    let r = svc.update_domain(upd("other")).unwrap().domain;
    let details = r.server_side_encryption_update_details.unwrap();
    assert_eq!(details.update_status.as_deref(), Some("IN_PROGRESS"));
    assert_eq!(details.old_kms_key_id.as_deref(), Some("default"));
    let mut status = String::new();
    for _ in 0..200 {
        let d = svc
            .describe_domain(DomainIdRequest {
                domain_id: d.domain_id.clone(),
            })
            .unwrap()
            .domain;
        status = d
            .server_side_encryption_update_details
            .unwrap()
            .update_status
            .unwrap();
        if status != "IN_PROGRESS" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(status, "COMPLETED");
}

#[test]
fn jobs_are_stored_submitted_with_defaults_and_limited_to_one_active() {
    let (svc, _) = service();
    let d = create_domain(&svc, "d", None).unwrap();
    let req = |token: &str| StartSpeakerEnrollmentJobRequest {
        client_token: Some(token.into()),
        data_access_role_arn: "arn:aws:iam::123456789012:role/r".into(),
        domain_id: d.domain_id.clone(),
        enrollment_config: None,
        input_data_config: InputDataConfig {
            s3_uri: "s3://bucket/in.json".into(),
        },
        job_name: Some("job".into()),
        output_data_config: OutputDataConfig {
            kms_key_id: None,
            s3_uri: "s3://bucket/out".into(),
        },
    };
    let j = svc.start_speaker_enrollment_job(req("a")).unwrap().job;
    assert_eq!(j.job_status, "SUBMITTED");
    let cfg = j.enrollment_config.clone().unwrap();
    assert_eq!(cfg.existing_enrollment_action.as_deref(), Some("SKIP"));
    assert_eq!(
        cfg.fraud_detection_config.unwrap().watchlist_ids,
        Some(vec![d.watchlist_details.default_watchlist_id.clone()])
    );
    assert_eq!(svc.start_speaker_enrollment_job(req("a")).unwrap().job, j);
    assert!(matches!(
        svc.start_speaker_enrollment_job(req("b")),
        Err(Error::ServiceQuotaExceeded(_))
    ));
    let got = svc
        .describe_speaker_enrollment_job(JobRequest {
            domain_id: d.domain_id.clone(),
            job_id: j.job_id.clone(),
        })
        .unwrap()
        .job;
    assert_eq!(got, j);
    let mut l = list(&d.domain_id);
    l.job_status = Some("COMPLETED".into());
    assert!(svc
        .list_speaker_enrollment_jobs(l)
        .unwrap()
        .job_summaries
        .is_empty());
    assert_eq!(
        svc.list_speaker_enrollment_jobs(list(&d.domain_id))
            .unwrap()
            .job_summaries
            .len(),
        1
    );
    let err = svc.describe_fraudster_registration_job(JobRequest {
        domain_id: d.domain_id.clone(),
        job_id: j.job_id,
    });
    assert!(matches!(
        err,
        Err(Error::ResourceNotFound {
            resource_type: ResourceType::BatchJob,
            ..
        })
    ));
}

#[test]
fn tags_live_on_domain_arns() {
    let (svc, _) = service();
    let d = create_domain(&svc, "d", None).unwrap();
    let tag = |k: &str, v: &str| Tag {
        key: k.into(),
        value: v.into(),
    };
    svc.tag_resource(TagResourceRequest {
        resource_arn: d.arn.clone(),
        tags: vec![tag("a", "1"), tag("b", "2")],
    })
    .unwrap();
    svc.tag_resource(TagResourceRequest {
        resource_arn: d.arn.clone(),
        tags: vec![tag("a", "3")],
    })
    .unwrap();
    svc.untag_resource(UntagResourceRequest {
        resource_arn: d.arn.clone(),
        tag_keys: vec!["b".into()],
    })
    .unwrap();
    let tags = svc
        .list_tags_for_resource(ResourceArnRequest {
            resource_arn: d.arn.clone(),
        })
        .unwrap()
        .tags;
    assert_eq!(tags, vec![tag("a", "3")]);
    let foreign = d.arn.replace("us-east-1", "eu-west-2");
    assert!(matches!(
        svc.list_tags_for_resource(ResourceArnRequest {
            resource_arn: foreign
        }),
        Err(Error::ResourceNotFound { .. })
    ));
    assert!(matches!(
        svc.tag_resource(TagResourceRequest {
            resource_arn: d.arn,
            tags: vec![tag("aws:x", "1")]
        }),
        Err(Error::Validation(_))
    ));
}

#[test]
fn evaluate_unknown_session_is_not_found() {
    let (svc, _) = service();
    let d = create_domain(&svc, "d", None).unwrap();
    let err = svc.evaluate_session(EvaluateSessionRequest {
        domain_id: d.domain_id,
        session_name_or_id: "contact-1".into(),
    });
    assert!(matches!(
        err,
        Err(Error::ResourceNotFound {
            resource_type: ResourceType::Session,
            ..
        })
    ));
}
