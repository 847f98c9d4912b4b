//! Every Voice ID operation over HTTP against the real server (in-process, real
//! SQLite store, SigV4-signed requests): happy paths and documented errors,
//! pagination, idempotency, tags, and SigV4 failures.
//!
//! Add a test here for any new operation or error path; process-level tests
//! (binary, kill -9, raw files) live in `durability.rs`.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{json, Value};

fn sse(key: &str) -> Value {
    json!({"KmsKeyId": key})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_happy_path_and_documented_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = start_in_process(dir.path()).await;
    let nf = "A".repeat(22);

    // ---- domains ----
    let d = c
        .ok(
            "CreateDomain",
            json!({"Name": "main-domain", "Description": "first", "ServerSideEncryptionConfiguration": sse("default"),
                   "Tags": [{"Key": "team", "Value": "fraud"}]}),
        )
        .await;
    let domain = d["Domain"].clone();
    let dom = domain["DomainId"].as_str().unwrap().to_string();
    let arn = domain["Arn"].as_str().unwrap().to_string();
    assert_eq!(
        arn,
        format!("arn:aws:voiceid:us-east-1:000000000000:domain/{dom}")
    );
    assert_eq!(domain["Name"], "main-domain");
    assert_eq!(domain["DomainStatus"], "ACTIVE");
    assert!(domain["CreatedAt"].as_f64().unwrap() > 1.6e9);
    let default_wl = domain["WatchlistDetails"]["DefaultWatchlistId"]
        .as_str()
        .unwrap()
        .to_string();
    c.err(
        "CreateDomain",
        json!({"Name": "x", "ServerSideEncryptionConfiguration": sse("no-such-key")}),
        "ValidationException",
    )
    .await;
    let described = c.ok("DescribeDomain", json!({"DomainId": dom})).await;
    assert_eq!(described["Domain"], domain);
    let e = c
        .err(
            "DescribeDomain",
            json!({"DomainId": nf}),
            "ResourceNotFoundException",
        )
        .await;
    assert_eq!(e["ResourceType"], "DOMAIN");
    let u = c
        .ok("UpdateDomain", json!({"DomainId": dom, "Name": "renamed", "ServerSideEncryptionConfiguration": sse("default")}))
        .await;
    assert_eq!(u["Domain"]["Name"], "renamed");
    assert!(
        u["Domain"].get("Description").is_none(),
        "UpdateDomain clobbers an omitted Description"
    );
    c.err(
        "UpdateDomain",
        json!({"DomainId": nf, "Name": "x", "ServerSideEncryptionConfiguration": sse("default")}),
        "ResourceNotFoundException",
    )
    .await;
    let second = c
        .ok(
            "CreateDomain",
            json!({"Name": "second", "ServerSideEncryptionConfiguration": sse("default")}),
        )
        .await;
    let second_id = second["Domain"]["DomainId"].as_str().unwrap().to_string();
    // ListDomains across pages of one.
    let p1 = c.ok("ListDomains", json!({"MaxResults": 1})).await;
    assert_eq!(p1["DomainSummaries"].as_array().unwrap().len(), 1);
    let p2 = c
        .ok(
            "ListDomains",
            json!({"MaxResults": 1, "NextToken": p1["NextToken"]}),
        )
        .await;
    assert_eq!(p2["DomainSummaries"].as_array().unwrap().len(), 1);
    let mut ids = vec![
        p1["DomainSummaries"][0]["DomainId"]
            .as_str()
            .unwrap()
            .to_string(),
        p2["DomainSummaries"][0]["DomainId"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    ids.sort();
    let mut want = vec![dom.clone(), second_id.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert!(p2.get("NextToken").is_none());
    c.err(
        "ListDomains",
        json!({"MaxResults": 1, "NextToken": "forged.token"}),
        "ValidationException",
    )
    .await;

    // ---- watchlists ----
    let w = c
        .ok(
            "CreateWatchlist",
            json!({"DomainId": dom, "Name": "vip", "Description": "d"}),
        )
        .await["Watchlist"]
        .clone();
    let wid = w["WatchlistId"].as_str().unwrap().to_string();
    assert_eq!(w["DefaultWatchlist"], false);
    c.err(
        "CreateWatchlist",
        json!({"DomainId": nf, "Name": "x"}),
        "ResourceNotFoundException",
    )
    .await;
    assert_eq!(
        c.ok(
            "DescribeWatchlist",
            json!({"DomainId": dom, "WatchlistId": wid})
        )
        .await["Watchlist"],
        w
    );
    let e = c
        .err(
            "DescribeWatchlist",
            json!({"DomainId": dom, "WatchlistId": nf}),
            "ResourceNotFoundException",
        )
        .await;
    assert_eq!(e["ResourceType"], "WATCHLIST");
    let uw = c
        .ok(
            "UpdateWatchlist",
            json!({"DomainId": dom, "WatchlistId": wid, "Name": "vip2"}),
        )
        .await;
    assert_eq!(uw["Watchlist"]["Name"], "vip2");
    assert_eq!(uw["Watchlist"]["Description"], "d");
    c.err(
        "UpdateWatchlist",
        json!({"DomainId": dom, "WatchlistId": default_wl, "Name": "x"}),
        "ValidationException",
    )
    .await;
    let lw = c.ok("ListWatchlists", json!({"DomainId": dom})).await;
    assert_eq!(lw["WatchlistSummaries"].as_array().unwrap().len(), 2);
    c.ok("CreateWatchlist", json!({"DomainId": dom, "Name": "third"}))
        .await;
    c.err(
        "CreateWatchlist",
        json!({"DomainId": dom, "Name": "fourth"}),
        "ServiceQuotaExceededException",
    )
    .await;

    // ---- fraudsters (seeded: registration jobs arrive with issue 6) ----
    let f = common::off_runtime(|| {
        server
            .service
            .admin_put_fraudster(&dom, vec![], vec![5; 64])
            .unwrap()
    });
    let fr = c
        .ok(
            "DescribeFraudster",
            json!({"DomainId": dom, "FraudsterId": f}),
        )
        .await["Fraudster"]
        .clone();
    assert_eq!(fr["WatchlistIds"], json!([default_wl]));
    let e = c
        .err(
            "DescribeFraudster",
            json!({"DomainId": dom, "FraudsterId": format!("id#{nf}")}),
            "ResourceNotFoundException",
        )
        .await;
    assert_eq!(e["ResourceType"], "FRAUDSTER");
    let e = c
        .err(
            "DisassociateFraudster",
            json!({"DomainId": dom, "FraudsterId": f, "WatchlistId": default_wl}),
            "ConflictException",
        )
        .await;
    assert_eq!(
        e["ConflictType"],
        "FRAUDSTER_MUST_BELONG_TO_AT_LEAST_ONE_WATCHLIST"
    );
    let a = c
        .ok(
            "AssociateFraudster",
            json!({"DomainId": dom, "FraudsterId": f, "WatchlistId": wid}),
        )
        .await;
    assert_eq!(a["Fraudster"]["WatchlistIds"], json!([default_wl, wid]));
    let e = c
        .err(
            "DeleteWatchlist",
            json!({"DomainId": dom, "WatchlistId": wid}),
            "ConflictException",
        )
        .await;
    assert_eq!(e["ConflictType"], "CANNOT_DELETE_NON_EMPTY_WATCHLIST");
    let lf = c
        .ok(
            "ListFraudsters",
            json!({"DomainId": dom, "WatchlistId": wid}),
        )
        .await;
    assert_eq!(
        lf["FraudsterSummaries"][0]["GeneratedFraudsterId"],
        json!(f)
    );
    c.ok(
        "DisassociateFraudster",
        json!({"DomainId": dom, "FraudsterId": f, "WatchlistId": wid}),
    )
    .await;
    assert!(c
        .ok(
            "ListFraudsters",
            json!({"DomainId": dom, "WatchlistId": wid})
        )
        .await["FraudsterSummaries"]
        .as_array()
        .unwrap()
        .is_empty());
    c.ok(
        "DeleteWatchlist",
        json!({"DomainId": dom, "WatchlistId": wid}),
    )
    .await;
    c.err(
        "DeleteWatchlist",
        json!({"DomainId": dom, "WatchlistId": default_wl}),
        "ValidationException",
    )
    .await;
    c.ok(
        "DeleteFraudster",
        json!({"DomainId": dom, "FraudsterId": f}),
    )
    .await;
    c.err(
        "DeleteFraudster",
        json!({"DomainId": dom, "FraudsterId": f}),
        "ResourceNotFoundException",
    )
    .await;

    // ---- speakers ----
    let seeded: Vec<(String, Vec<u8>)> = (0..23)
        .map(|i| (format!("cust-{i:02}"), vec![i as u8; 32]))
        .collect();
    let mut generated = common::off_runtime(|| {
        server
            .service
            .admin_put_speakers(&dom, seeded, None)
            .unwrap()
    });
    generated.sort();
    let by_customer = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": dom, "SpeakerId": "cust-03"}),
        )
        .await;
    let gid = by_customer["Speaker"]["GeneratedSpeakerId"]
        .as_str()
        .unwrap()
        .to_string();
    let by_generated = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": dom, "SpeakerId": gid}),
        )
        .await;
    assert_eq!(by_customer, by_generated);
    assert_eq!(by_customer["Speaker"]["Status"], "ENROLLED");
    assert_eq!(by_customer["Speaker"]["CustomerSpeakerId"], "cust-03");
    let e = c
        .err(
            "DescribeSpeaker",
            json!({"DomainId": dom, "SpeakerId": "nobody"}),
            "ResourceNotFoundException",
        )
        .await;
    assert_eq!(e["ResourceType"], "SPEAKER");
    let mut seen = Vec::new();
    let mut token: Option<Value> = None;
    let mut pages = 0;
    loop {
        let mut req = json!({"DomainId": dom, "MaxResults": 10});
        if let Some(t) = &token {
            req["NextToken"] = t.clone();
        }
        let page = c.ok("ListSpeakers", req).await;
        pages += 1;
        for s in page["SpeakerSummaries"].as_array().unwrap() {
            seen.push(s["GeneratedSpeakerId"].as_str().unwrap().to_string());
        }
        match page.get("NextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!((pages, &seen), (3, &generated));
    c.err(
        "ListSpeakers",
        json!({"DomainId": dom, "MaxResults": 101}),
        "ValidationException",
    )
    .await;
    c.err(
        "ListSpeakers",
        json!({"DomainId": second_id, "NextToken": token.unwrap_or(json!("x"))}),
        "ValidationException",
    )
    .await;
    let o = c
        .ok(
            "OptOutSpeaker",
            json!({"DomainId": dom, "SpeakerId": "cust-03"}),
        )
        .await;
    assert_eq!(o["Speaker"]["Status"], "OPTED_OUT");
    let o = c
        .ok(
            "OptOutSpeaker",
            json!({"DomainId": dom, "SpeakerId": "never-seen"}),
        )
        .await;
    assert_eq!(o["Speaker"]["Status"], "OPTED_OUT");
    assert_eq!(o["Speaker"]["CustomerSpeakerId"], "never-seen");
    c.ok("DeleteSpeaker", json!({"DomainId": dom, "SpeakerId": gid}))
        .await;
    c.err(
        "DeleteSpeaker",
        json!({"DomainId": dom, "SpeakerId": gid}),
        "ResourceNotFoundException",
    )
    .await;

    // ---- batch jobs ----
    let job_input = json!({"DomainId": dom, "DataAccessRoleArn": "arn:aws:iam::123456789012:role/voiceid",
        "InputDataConfig": {"S3Uri": "s3://bucket/manifest.json"}, "OutputDataConfig": {"S3Uri": "s3://bucket/out"},
        "JobName": "enrol-1", "ClientToken": "job-token-1"});
    let j = c.ok("StartSpeakerEnrollmentJob", job_input.clone()).await["Job"].clone();
    assert_eq!(j["JobStatus"], "SUBMITTED");
    assert_eq!(j["JobName"], "enrol-1");
    assert_eq!(j["EnrollmentConfig"]["ExistingEnrollmentAction"], "SKIP");
    assert_eq!(
        c.ok("StartSpeakerEnrollmentJob", job_input.clone()).await["Job"],
        j,
        "same ClientToken replays"
    );
    let mut other = job_input.clone();
    other["ClientToken"] = json!("job-token-2");
    c.err(
        "StartSpeakerEnrollmentJob",
        other,
        "ServiceQuotaExceededException",
    )
    .await;
    let jid = j["JobId"].as_str().unwrap();
    assert_eq!(
        c.ok(
            "DescribeSpeakerEnrollmentJob",
            json!({"DomainId": dom, "JobId": jid})
        )
        .await["Job"],
        j
    );
    let e = c
        .err(
            "DescribeSpeakerEnrollmentJob",
            json!({"DomainId": dom, "JobId": nf}),
            "ResourceNotFoundException",
        )
        .await;
    assert_eq!(e["ResourceType"], "BATCH_JOB");
    let lj = c
        .ok(
            "ListSpeakerEnrollmentJobs",
            json!({"DomainId": dom, "JobStatus": "SUBMITTED"}),
        )
        .await;
    assert_eq!(lj["JobSummaries"][0]["JobId"], json!(jid));
    let mut freg = job_input.clone();
    freg.as_object_mut().unwrap().remove("ClientToken");
    freg["RegistrationConfig"] =
        json!({"DuplicateRegistrationAction": "REGISTER_AS_NEW", "WatchlistIds": [nf]});
    c.err(
        "StartFraudsterRegistrationJob",
        freg.clone(),
        "ResourceNotFoundException",
    )
    .await;
    freg["RegistrationConfig"]["WatchlistIds"] = json!([default_wl]);
    let fj = c.ok("StartFraudsterRegistrationJob", freg).await["Job"].clone();
    assert_eq!(
        fj["RegistrationConfig"]["DuplicateRegistrationAction"],
        "REGISTER_AS_NEW"
    );
    let fjid = fj["JobId"].as_str().unwrap();
    assert_eq!(
        c.ok(
            "DescribeFraudsterRegistrationJob",
            json!({"DomainId": dom, "JobId": fjid})
        )
        .await["Job"],
        fj
    );
    let lfj = c
        .ok("ListFraudsterRegistrationJobs", json!({"DomainId": dom}))
        .await;
    assert_eq!(lfj["JobSummaries"].as_array().unwrap().len(), 1);
    c.err(
        "ListFraudsterRegistrationJobs",
        json!({"DomainId": nf}),
        "ResourceNotFoundException",
    )
    .await;

    // ---- sessions (issue 8) ----
    let e = c
        .err(
            "EvaluateSession",
            json!({"DomainId": dom, "SessionNameOrId": "contact-1"}),
            "ResourceNotFoundException",
        )
        .await;
    assert_eq!(e["ResourceType"], "SESSION");

    // ---- tags ----
    c.ok(
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "env", "Value": "test"}]}),
    )
    .await;
    c.ok(
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": ["team"]}),
    )
    .await;
    let t = c
        .ok("ListTagsForResource", json!({"ResourceArn": arn}))
        .await;
    assert_eq!(t["Tags"], json!([{"Key": "env", "Value": "test"}]));
    let foreign = format!("arn:aws:voiceid:us-east-1:000000000000:domain/{nf}");
    c.err(
        "ListTagsForResource",
        json!({"ResourceArn": foreign}),
        "ResourceNotFoundException",
    )
    .await;

    // ---- model validation reaches every operation ----
    c.err("DescribeDomain", json!({}), "ValidationException")
        .await;
    c.err(
        "DescribeDomain",
        json!({"DomainId": "short"}),
        "ValidationException",
    )
    .await;

    // ---- delete ----
    c.ok("DeleteDomain", json!({"DomainId": dom})).await;
    c.err(
        "DescribeDomain",
        json!({"DomainId": dom}),
        "ResourceNotFoundException",
    )
    .await;
    c.err(
        "DeleteDomain",
        json!({"DomainId": dom}),
        "ResourceNotFoundException",
    )
    .await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_token_makes_create_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = start_in_process(dir.path()).await;
    let req = json!({"Name": "idem", "ClientToken": "tok-123", "ServerSideEncryptionConfiguration": sse("default")});
    let a = c.ok("CreateDomain", req.clone()).await;
    let b = c.ok("CreateDomain", req).await;
    assert_eq!(a, b);
    let different = json!({"Name": "other", "ClientToken": "tok-123", "ServerSideEncryptionConfiguration": sse("default")});
    c.err("CreateDomain", different, "ValidationException")
        .await;
    assert_eq!(
        c.ok("ListDomains", json!({})).await["DomainSummaries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let dom = a["Domain"]["DomainId"].as_str().unwrap();
    let w = json!({"DomainId": dom, "Name": "w", "ClientToken": "wt"});
    assert_eq!(
        c.ok("CreateWatchlist", w.clone()).await,
        c.ok("CreateWatchlist", w).await
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_failures_are_refused_with_aws_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = start_in_process(dir.path()).await;
    let body = b"{}".to_vec();
    let target = "VoiceID.ListDomains";
    // Unsigned.
    let (status, v) = c
        .send(
            vec![
                ("content-type".into(), "application/x-amz-json-1.0".into()),
                ("x-amz-target".into(), target.into()),
            ],
            body.clone(),
        )
        .await;
    assert!(status == 403 || status == 400, "{status} {v}");
    assert!(v["__type"].as_str().unwrap().ends_with("Exception"), "{v}");
    // Wrong secret.
    let h = signed_headers(
        &c.addr,
        target,
        &body,
        &c.access_key_id,
        "not-the-secret",
        SystemTime::now(),
    );
    let (status, v) = c.send(h, body.clone()).await;
    assert_eq!(status, 403, "{v}");
    // Unknown access key.
    let h = signed_headers(
        &c.addr,
        target,
        &body,
        "AKIAUNKNOWN000000000",
        &c.secret,
        SystemTime::now(),
    );
    let (status, v) = c.send(h, body.clone()).await;
    assert_eq!(status, 403, "{v}");
    // Tampered body.
    let h = signed_headers(
        &c.addr,
        target,
        &body,
        &c.access_key_id,
        &c.secret,
        SystemTime::now(),
    );
    let (status, v) = c.send(h, b"{\"MaxResults\":1}".to_vec()).await;
    assert_eq!(status, 403, "{v}");
    // Signed an hour ago.
    let old = SystemTime::now() - Duration::from_secs(3600);
    let h = signed_headers(&c.addr, target, &body, &c.access_key_id, &c.secret, old);
    let (status, v) = c.send(h, body.clone()).await;
    assert!(status == 403 || status == 400, "{status} {v}");
    assert!(v["__type"].is_string());
    // And the right signature works.
    let h = signed_headers(
        &c.addr,
        target,
        &body,
        &c.access_key_id,
        &c.secret,
        SystemTime::now(),
    );
    assert_eq!(c.send(h, body).await.0, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_domain_key_re_encrypts_in_background() {
    let dir = tempfile::tempdir().unwrap();
    // A second master key in the keyring, as an operator would add it.
    let mut keyring = voiceprint_store::Keyring::open_or_create(dir.path()).unwrap();
    keyring.create_key("second").unwrap();
    drop(keyring);
    let (server, c) = start_in_process(dir.path()).await;
    let dom = c
        .ok(
            "CreateDomain",
            json!({"Name": "rot", "ServerSideEncryptionConfiguration": sse("default")}),
        )
        .await["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_string();
    common::off_runtime(|| {
        server
            .service
            .admin_put_speakers(&dom, vec![("spk-1".into(), vec![1; 256])], None)
            .unwrap()
    });
    let u = c.ok("UpdateDomain", json!({"DomainId": dom, "Name": "rot", "ServerSideEncryptionConfiguration": sse("second")})).await;
    let details = &u["Domain"]["ServerSideEncryptionUpdateDetails"];
    assert_eq!(details["UpdateStatus"], "IN_PROGRESS");
    assert_eq!(details["OldKmsKeyId"], "default");
    let mut status = Value::Null;
    for _ in 0..500 {
        let d = c.ok("DescribeDomain", json!({"DomainId": dom})).await;
        status = d["Domain"]["ServerSideEncryptionUpdateDetails"]["UpdateStatus"].clone();
        if status != "IN_PROGRESS" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "COMPLETED");
    // Data is still readable under the new key.
    let s = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": dom, "SpeakerId": "spk-1"}),
        )
        .await;
    assert_eq!(s["Speaker"]["Status"], "ENROLLED");
    c.err("UpdateDomain", json!({"DomainId": dom, "Name": "rot", "ServerSideEncryptionConfiguration": sse("missing")}), "ValidationException").await;
    server.stop().await.unwrap();
}
