//! `kill -9` in the middle of a job, on the real binary: `voiceprint serve` runs the
//! job, is killed with SIGKILL after some requests are done, starts again over the
//! same data directory, and the job completes with every request done exactly once.
//! The job is started and followed with the `voiceprint jobs` CLI; its manifest,
//! audio and output live in a real S3-compatible server (moto) since the API only
//! takes `s3://` URIs.
//!
//! Needs the `voiceprint` binary (`$VOICEPRINT_BIN`, or next to this test in the
//! target directory: `cargo build -p voiceprint`), moto_server, the CAM++ weights
//! and espeak-ng/sox; skips with a message otherwise.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use voiceprint_jobs::{output_uri, JobsConfig, ObjectStores, S3Config};

fn voiceprint_binary() -> Option<PathBuf> {
    let path = std::env::var_os("VOICEPRINT_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            // target/<profile>/deps/kill9-<hash> → target/<profile>/voiceprint
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.join("voiceprint"))
        })?;
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIP: {} not found (cargo build -p voiceprint, or set VOICEPRINT_BIN)",
            path.display()
        );
        None
    }
}

struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(
    bin: &Path,
    data: &Path,
    s3_endpoint: &str,
    models: &Path,
    extra_env: &[(&str, &str)],
) -> Server {
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data)
        .env("VOICEPRINT__ENGINE__MODELS_DIR", models)
        .env("VOICEPRINT__ENGINE__WORKERS", "2")
        .env("VOICEPRINT__JOBS__S3_ENDPOINT", s3_endpoint)
        .env("VOICEPRINT__JOBS__S3_ALLOW_HTTP", "true")
        .env("VOICEPRINT__JOBS__S3_ACCESS_KEY_ID", "testing")
        .env("VOICEPRINT__JOBS__S3_SECRET_ACCESS_KEY", "testing")
        .env("VOICEPRINT__JOBS__MIN_SPEECH_SECONDS", "4")
        .env("VOICEPRINT__JOBS__PAUSED", "false")
        .envs(extra_env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("voiceprint serve runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let endpoint = loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines.next().expect("server output").unwrap();
        if let Some(addr) = line.strip_prefix("voiceprint listening on ") {
            break addr.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Server { child, endpoint }
}

/// One unsigned awsJson1_0 call (the server runs with --no-auth).
fn call(rt: &tokio::runtime::Runtime, endpoint: &str, op: &str, body: Value) -> Value {
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{endpoint}/"))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("VoiceID.{op}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{op}: {status} {v}");
        v
    })
}

fn cli(bin: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .arg("jobs")
        .args(args)
        .args([
            "--endpoint",
            endpoint,
            "--access-key-id",
            "AKIDTEST",
            "--secret-access-key",
            "secret",
        ])
        .output()
        .expect("voiceprint jobs runs")
}

#[test]
fn kill_9_mid_job_then_restart_completes_it_exactly_once() {
    kill_9_mid_job(None);
}

/// Two nodes over one PostgreSQL database (issue 10): the node running the job is
/// SIGKILLed; the other node takes the job over when its lease expires and
/// finishes it, every request exactly once. Needs `VOICEPRINT_TEST_DATABASE_URL`.
#[test]
fn kill_9_one_of_two_nodes_mid_job_the_other_finishes_it_exactly_once() {
    let Ok(base) = std::env::var("VOICEPRINT_TEST_DATABASE_URL") else {
        eprintln!(
            "SKIP: set VOICEPRINT_TEST_DATABASE_URL (scripts/pg-test-server.sh starts a server)"
        );
        return;
    };
    let name = format!("vp_kill9_{}", std::process::id());
    let mut admin =
        postgres::Client::connect(&format!("{base} dbname=postgres"), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    kill_9_mid_job(Some(format!("{base} dbname={name}")));
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// Without `database_url`: one node over SQLite, killed and restarted. With it: two
/// nodes over PostgreSQL, the running one killed, the other finishing.
fn kill_9_mid_job(database_url: Option<String>) {
    let Some(models) = models_dir() else { return };
    if !have_speech_tools() {
        return;
    }
    let Some(bin) = voiceprint_binary() else {
        return;
    };
    let Some(moto) = start_moto() else { return };
    create_bucket(&moto.endpoint, "calls");
    let stores = ObjectStores::new(&JobsConfig {
        s3: S3Config {
            endpoint: Some(moto.endpoint.clone()),
            allow_http: true,
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            ..S3Config::default()
        },
        ..JobsConfig::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    for (v, voice) in VOICES.iter().enumerate() {
        let wav = root.join(format!("v{v}.wav"));
        speak(*voice, TEXTS[v % TEXTS.len()], &wav);
        stores
            .put(
                &format!("s3://calls/audio/v{v}.wav"),
                std::fs::read(&wav).unwrap(),
            )
            .unwrap();
    }
    const N: usize = 30;
    let requests: Vec<Value> = (0..N)
        .map(|i| {
            json!({"RequestId": format!("r{i}"), "SpeakerId": format!("caller-{i}"),
                   "AudioSpecifications": [{"S3Uri": format!("s3://calls/audio/v{}.wav", i % VOICES.len()), "ChannelId": 0}]})
        })
        .collect();
    let manifest = "s3://calls/batches/kill9.json";
    let out_prefix = "s3://calls/results";
    stores
        .put(
            manifest,
            serde_json::to_vec(&json!({"Version": "1.0", "SpeakerEnrollmentRequests": requests}))
                .unwrap(),
        )
        .unwrap();
    let data = root.join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();

    let node_env = |node: &'static str| -> Vec<(&'static str, String)> {
        match &database_url {
            None => Vec::new(),
            Some(url) => vec![
                ("VOICEPRINT__STORE__DATABASE_URL", url.clone()),
                ("VOICEPRINT__JOBS__NODE_ID", node.to_owned()),
                ("VOICEPRINT__JOBS__LEASE_SECONDS", "2".to_owned()),
            ],
        }
    };
    let spawn = |node: &'static str| {
        let env = node_env(node);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        spawn_server(&bin, &data, &moto.endpoint, &models, &env)
    };
    let server = spawn("node-a");
    // With PostgreSQL, a second node is up from the start: it must not run the job
    // while node A holds the lease, and must take it over when A dies.
    let other = database_url.as_ref().map(|_| spawn("node-b"));
    let domain = call(
        &rt,
        &server.endpoint,
        "CreateDomain",
        json!({"Name": "kill9", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
    )["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = cli(
        &bin,
        &server.endpoint,
        &[
            "start",
            "--kind",
            "enrollment",
            "--domain-id",
            &domain,
            "--input",
            manifest,
            "--output",
            out_prefix,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    let job_id = job["JobId"].as_str().unwrap().to_owned();
    assert_eq!(job["JobStatus"], "SUBMITTED");

    // Kill -9 once some requests (not all) are done.
    let start = Instant::now();
    loop {
        let j = call(
            &rt,
            &server.endpoint,
            "DescribeSpeakerEnrollmentJob",
            json!({"DomainId": domain, "JobId": job_id}),
        )["Job"]
            .clone();
        let p = j["JobProgress"]["PercentComplete"].as_i64().unwrap();
        assert_ne!(j["JobStatus"], "COMPLETED", "job ended before the kill");
        if p >= 20 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "no progress: {j}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    // Two nodes: kill the one holding the job's lease (whichever took it).
    let (mut victim, survivor) = match (other, &database_url) {
        (Some(b), Some(url)) => {
            let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
            let row = db
                .query_one(
                    "SELECT attributes FROM records WHERE id = $1",
                    &[&format!("lease:{job_id}")],
                )
                .unwrap();
            let lease: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
            match lease["owner"].as_str() {
                Some("node-a") => (server, Some(b)),
                Some("node-b") => (b, Some(server)),
                other => panic!("unexpected lease owner {other:?}"),
            }
        }
        _ => (server, None),
    };
    victim.child.kill().unwrap(); // SIGKILL
    victim.child.wait().unwrap();
    drop(victim);

    // The restarted server (or the surviving node, once the lease expires) resumes
    // by itself; `jobs watch` follows it to the end.
    let server = match survivor {
        Some(s) => s,
        None => spawn("node-a"),
    };
    let watched = cli(
        &bin,
        &server.endpoint,
        &[
            "watch",
            "--kind",
            "enrollment",
            "--domain-id",
            &domain,
            "--job-id",
            &job_id,
            "--interval-ms",
            "200",
        ],
    );
    assert!(
        watched.status.success(),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    let described = cli(
        &bin,
        &server.endpoint,
        &[
            "describe",
            "--kind",
            "enrollment",
            "--domain-id",
            &domain,
            "--job-id",
            &job_id,
        ],
    );
    let job: Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(job["JobStatus"], "COMPLETED", "{job}");
    assert_eq!(job["JobProgress"]["PercentComplete"], 100);

    let out_uri = output_uri(out_prefix, &job_id, manifest);
    assert_eq!(
        out_uri,
        format!("s3://calls/results/{job_id}/kill9.json.out")
    );
    let output: Value = serde_json::from_slice(&stores.get(&out_uri, 1 << 30).unwrap()).unwrap();
    assert_eq!(output["Errors"], json!([]));
    let done = output["SuccessfulEnrollments"].as_array().unwrap();
    assert_eq!(done.len(), N);
    let mut seen = std::collections::HashSet::new();
    for e in done {
        assert!(
            seen.insert(e["RequestId"].as_str().unwrap().to_owned()),
            "{e} twice"
        );
        assert_eq!(e["EnrollmentStatus"], "NEW_ENROLLMENT", "{e}");
    }
    // Exactly one speaker per request, each the one the output names.
    let speakers = call(
        &rt,
        &server.endpoint,
        "ListSpeakers",
        json!({"DomainId": domain, "MaxResults": 100}),
    )["SpeakerSummaries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(speakers.len(), N);
    let ids: std::collections::HashSet<&str> = speakers
        .iter()
        .map(|s| s["GeneratedSpeakerId"].as_str().unwrap())
        .collect();
    for e in done {
        assert!(
            ids.contains(e["GeneratedSpeakerId"].as_str().unwrap()),
            "{e}"
        );
    }
}
