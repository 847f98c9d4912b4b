//! Several voiceprint nodes over one PostgreSQL database (issue 10): two servers in
//! this process, each with its own pool, locks and engine threads, sharing only the
//! database and the data directory's keyring and credentials.
//!
//! - control plane: a domain made on one node is seen on the other; a ClientToken
//!   holds across nodes; conflicting writes from both nodes at once (watchlist quota,
//!   opt-out vs delete of one speaker) end consistent — this needs the cluster lock.
//! - live sessions: a call streamed into node A is evaluated, enrolled and described
//!   from node B; a fraudster registered on B is detected in a call streamed into A.
//!
//! Needs `VOICEPRINT_TEST_DATABASE_URL` (key=value form, a user that may create
//! databases; `scripts/pg-test-server.sh` starts one); the session test also needs
//! the CAM++ weights, espeak-ng and sox. Skips with a message otherwise.

mod common;

use std::path::Path;

use serde_json::{json, Value};

use common::speech::*;
use common::Client;

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
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The blocking client runs its own runtime: off the test's runtime thread.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut admin) =
                postgres::Client::connect(&format!("{admin_url} dbname=postgres"), postgres::NoTls)
            {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// [`TestDb::new`] off the async runtime's thread.
fn test_db(test: &'static str) -> Option<TestDb> {
    std::thread::spawn(move || TestDb::new(test))
        .join()
        .unwrap()
}

/// Two nodes over `db`, sharing `data_dir` (keyring, credentials, token key).
async fn two_nodes(
    db: &TestDb,
    data_dir: &Path,
    with_model: bool,
) -> Vec<(voiceprint_server::RunningServer, Client)> {
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut env = vec![("VOICEPRINT__STORE__DATABASE_URL".to_string(), db.url())];
        if with_model {
            env.push((
                "VOICEPRINT__ENGINE__MODELS_DIR".into(),
                models_dir().display().to_string(),
            ));
            env.push(("VOICEPRINT__ENGINE__WORKERS".into(), "1".into()));
        }
        let server = voiceprint_server::start(common::test_config(data_dir, env))
            .await
            .expect("node starts");
        let client = Client::new(
            server.addr.to_string(),
            &server.access_key_id,
            &server.secret_access_key,
        );
        nodes.push((server, client));
    }
    nodes
}

async fn create_domain(c: &Client, token: Option<&str>) -> String {
    let mut input =
        json!({"Name": "cluster", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}});
    if let Some(t) = token {
        input["ClientToken"] = json!(t);
    }
    c.ok("CreateDomain", input).await["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicting_writes_from_two_nodes_end_consistent() {
    let Some(db) = test_db("cluster_writes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nodes = two_nodes(&db, dir.path(), false).await;
    let (a, b) = (&nodes[0].1, &nodes[1].1);

    // Seen everywhere; one ClientToken, one domain, whichever node is asked.
    let domain = create_domain(a, Some("same-request-token")).await;
    assert_eq!(create_domain(b, Some("same-request-token")).await, domain);
    b.ok("DescribeDomain", json!({"DomainId": domain})).await;

    // The watchlist quota (3 per domain, the default one included) holds when both
    // nodes create at once.
    let creates = (0..12).map(|i| {
        let c = if i % 2 == 0 { a } else { b };
        let domain = domain.clone();
        async move {
            c.call(
                "CreateWatchlist",
                json!({"DomainId": domain, "Name": format!("wl-{i}")}),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(creates).await;
    let created = results.iter().filter(|(status, _)| *status == 200).count();
    for (status, body) in &results {
        assert!(
            *status == 200 || body["__type"] == "ServiceQuotaExceededException",
            "unexpected answer {status} {body}"
        );
    }
    assert_eq!(created, 2, "{results:?}");
    let listed = a.ok("ListWatchlists", json!({"DomainId": domain})).await;
    assert_eq!(listed["WatchlistSummaries"].as_array().unwrap().len(), 3);

    // Opt-out (creates the speaker when new) against delete, from both nodes at
    // once, many times: never two speakers for one customer id, never an error
    // other than "no such speaker".
    for round in 0..6 {
        let ops = (0..6).map(|i| {
            let c = if (i + round) % 2 == 0 { a } else { b };
            let op = if i % 3 == 2 {
                "DeleteSpeaker"
            } else {
                "OptOutSpeaker"
            };
            let domain = domain.clone();
            async move {
                c.call(op, json!({"DomainId": domain, "SpeakerId": "cust-x"}))
                    .await
            }
        });
        for (status, body) in futures_util::future::join_all(ops).await {
            assert!(
                status == 200 || body["__type"] == "ResourceNotFoundException",
                "round {round}: {status} {body}"
            );
        }
        let speakers = b.ok("ListSpeakers", json!({"DomainId": domain})).await;
        let matching: Vec<&Value> = speakers["SpeakerSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["CustomerSpeakerId"] == "cust-x")
            .collect();
        assert!(matching.len() <= 1, "round {round}: {speakers}");
        if let Some(s) = matching.first() {
            assert_eq!(s["Status"], "OPTED_OUT");
        }
    }
    for (server, _) in nodes {
        server.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_streamed_into_one_node_is_evaluated_from_the_other() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP: {why}");
        return;
    }
    let Some(db) = test_db("cluster_sessions") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let nodes = two_nodes(&db, &dir.path().join("data"), true).await;
    let (a, b) = (&nodes[0].1, &nodes[1].1);
    let domain = create_domain(a, None).await;
    let mulaw = "encoding=mulaw&sample_rate=8000";

    // Enrollment: started and requested on B, audio into A, completed and seen on B.
    b.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "call-1", "SpeakerId": "cust-a"}),
    )
    .await;
    let enroll = b
        .ok(
            "EnrollBySession",
            json!({"DomainId": domain, "SessionNameOrId": "call-1"}),
        )
        .await;
    assert_eq!(enroll["Status"], "IN_PROGRESS");
    common::post_audio(
        a,
        &domain,
        "call-1",
        mulaw,
        &mulaw_speech(&audio, VOICE_A, LONG_TEXT),
    )
    .await;
    let s = b
        .ok(
            "DescribeSession",
            json!({"DomainId": domain, "SessionNameOrId": "call-1"}),
        )
        .await["Session"]
        .clone();
    assert!(s["NetSpeechSeconds"].as_f64().unwrap() >= 30.0, "{s}");
    assert_eq!(s["EnrollmentRequestDetails"]["Status"], "COMPLETED", "{s}");
    let speaker = b
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": domain, "SpeakerId": "cust-a"}),
        )
        .await;
    assert_eq!(speaker["Speaker"]["Status"], "ENROLLED");

    // The customer calls again through B; A answers EvaluateSession.
    b.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "call-2", "SpeakerId": "cust-a"}),
    )
    .await;
    common::post_audio(
        b,
        &domain,
        "call-2",
        mulaw,
        &mulaw_speech(&audio, VOICE_A, SHORT_TEXT),
    )
    .await;
    let e = a
        .ok(
            "EvaluateSession",
            json!({"DomainId": domain, "SessionNameOrId": "call-2"}),
        )
        .await;
    assert_eq!(e["AuthenticationResult"]["Decision"], "ACCEPT", "{e}");
    // Cached results are the same result on both nodes.
    let again = b
        .ok(
            "EvaluateSession",
            json!({"DomainId": domain, "SessionNameOrId": "call-2"}),
        )
        .await;
    assert_eq!(
        again["AuthenticationResult"]["AuthenticationResultId"],
        e["AuthenticationResult"]["AuthenticationResultId"]
    );

    // A fraudster registered on B is detected in a call streamed into A.
    b.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "fraud-1"}),
    )
    .await;
    common::post_audio(
        b,
        &domain,
        "fraud-1",
        mulaw,
        &mulaw_speech(&audio, VOICE_C, LONG_TEXT),
    )
    .await;
    b.ok(
        "RegisterFraudsterBySession",
        json!({"DomainId": domain, "SessionNameOrId": "fraud-1"}),
    )
    .await;
    a.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "call-3", "SpeakerId": "cust-a"}),
    )
    .await;
    common::post_audio(
        a,
        &domain,
        "call-3",
        mulaw,
        &mulaw_speech(&audio, VOICE_C, SHORT_TEXT),
    )
    .await;
    let e = b
        .ok(
            "EvaluateSession",
            json!({"DomainId": domain, "SessionNameOrId": "call-3"}),
        )
        .await;
    assert_eq!(e["FraudDetectionResult"]["Decision"], "HIGH_RISK", "{e}");
    assert_eq!(e["AuthenticationResult"]["Decision"], "REJECT", "{e}");
    for (server, _) in nodes {
        server.stop().await.unwrap();
    }
}
