//! Shared harness of the server integration tests: start the real server
//! (in-process on port 0, or the real binary) over a temporary data directory
//! with the real SQLite store, and call it with SigV4-signed requests.
//!
//! The signer here is written independently of the server's verifier (from the
//! AWS SigV4 spec) so that sign and verify are not merely self-consistent.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use voiceprint_server::config::{Config, FlagOverrides};

pub mod speech;

pub const REGION: &str = "us-east-1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// (YYYYMMDD'T'HHMMSS'Z', YYYYMMDD) for `t`.
pub fn amz_date(t: SystemTime) -> (String, String) {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let date = format!("{y:04}{m:02}{d:02}");
    (
        format!(
            "{date}T{:02}{:02}{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        ),
        date,
    )
}

/// Headers (name, value) of a SigV4-signed awsJson POST / to `host`.
pub fn signed_headers(
    host: &str,
    target: &str,
    body: &[u8],
    access_key_id: &str,
    secret: &str,
    at: SystemTime,
) -> Vec<(String, String)> {
    let (amz, date) = amz_date(at);
    let payload_hash = hex(&Sha256::digest(body));
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:{host}\nx-amz-date:{amz}\nx-amz-target:{target}\n\n\
         content-type;host;x-amz-date;x-amz-target\n{payload_hash}"
    );
    let scope = format!("{date}/{REGION}/voiceid/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), &date);
    let k = hmac(&k, REGION);
    let k = hmac(&k, "voiceid");
    let k = hmac(&k, "aws4_request");
    let signature = hex(&hmac(&k, &to_sign));
    vec![
        ("content-type".into(), "application/x-amz-json-1.0".into()),
        ("host".into(), host.into()),
        ("x-amz-date".into(), amz),
        ("x-amz-target".into(), target.into()),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}"
            ),
        ),
    ]
}

/// A SigV4 client for one server.
#[derive(Clone)]
pub struct Client {
    pub addr: String,
    pub access_key_id: String,
    pub secret: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(addr: impl Into<String>, access_key_id: &str, secret: &str) -> Self {
        Client {
            addr: addr.into(),
            access_key_id: access_key_id.into(),
            secret: secret.into(),
            http: reqwest::Client::new(),
        }
    }

    /// Send raw `body` for `op` with the given headers; returns (status, JSON body).
    pub async fn send(&self, headers: Vec<(String, String)>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self.http.post(format!("http://{}/", self.addr)).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("server reachable");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Signed call of Voice ID operation `op`.
    pub async fn call(&self, op: &str, input: Value) -> (u16, Value) {
        let body = input.to_string().into_bytes();
        let headers = signed_headers(
            &self.addr,
            &format!("VoiceID.{op}"),
            &body,
            &self.access_key_id,
            &self.secret,
            SystemTime::now(),
        );
        self.send(headers, body).await
    }

    /// Signed call that must succeed.
    pub async fn ok(&self, op: &str, input: Value) -> Value {
        let (status, v) = self.call(op, input).await;
        assert_eq!(status, 200, "{op} failed: {v}");
        v
    }

    /// Signed call that must fail with `aws_type`; returns the error body.
    pub async fn err(&self, op: &str, input: Value, aws_type: &str) -> Value {
        let (status, v) = self.call(op, input).await;
        assert_eq!(
            v["__type"], aws_type,
            "{op}: expected {aws_type}, got {status} {v}"
        );
        assert!((400..600).contains(&status), "{op}: status {status}");
        assert!(v["message"].is_string(), "{op}: no message in {v}");
        v
    }
}

/// Configuration of a test server over `data_dir`, port 0, auth on.
///
/// With `VOICEPRINT_TEST_BACKEND=postgres` (and `VOICEPRINT_TEST_DATABASE_URL`), the
/// server stores everything in a fresh PostgreSQL database of its own instead of
/// SQLite, so suites that speak only the API (api, sessions, contacts, lifecycle)
/// run against both backends (scripts/test.sh runs them twice). A `env` entry for
/// `VOICEPRINT__STORE__DATABASE_URL` wins (several nodes sharing one database).
pub fn test_config(data_dir: &Path, mut env: Vec<(String, String)>) -> Config {
    let flags = FlagOverrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(data_dir.to_path_buf()),
        no_auth: false,
        database_url: None,
    };
    let chosen = env
        .iter()
        .any(|(k, _)| k == "VOICEPRINT__STORE__DATABASE_URL");
    if !chosen && std::env::var("VOICEPRINT_TEST_BACKEND").as_deref() == Ok("postgres") {
        env.push((
            "VOICEPRINT__STORE__DATABASE_URL".into(),
            postgres_database_for(data_dir),
        ));
    }
    Config::load(None, env, &flags).expect("test config")
}

/// The test PostgreSQL database of `data_dir` (created empty on first use, so a
/// restarted server over the same data directory finds its rows again).
fn postgres_database_for(data_dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let base = std::env::var("VOICEPRINT_TEST_DATABASE_URL")
        .expect("VOICEPRINT_TEST_BACKEND=postgres needs VOICEPRINT_TEST_DATABASE_URL");
    let digest = Sha256::digest(data_dir.display().to_string().as_bytes());
    let name: String = std::iter::once("vp_suite_".to_owned())
        .chain(digest[..8].iter().map(|b| format!("{b:02x}")))
        .collect();
    // The blocking client runs its own runtime: never on the test's runtime thread.
    let admin = format!("{base} dbname=postgres");
    let create = name.clone();
    off_runtime(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("test PostgreSQL");
        let exists = c
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&create])
            .unwrap()
            .is_some();
        if !exists {
            c.batch_execute(&format!("CREATE DATABASE {create}"))
                .unwrap();
        }
    });
    format!("{base} dbname={name}")
}

/// Start the server in-process over `data_dir`.
pub async fn start_in_process(data_dir: &Path) -> (voiceprint_server::RunningServer, Client) {
    start_in_process_with(data_dir, Vec::new()).await
}

/// [`start_in_process`] with `VOICEPRINT__...` settings on top of the test config.
pub async fn start_in_process_with(
    data_dir: &Path,
    env: Vec<(String, String)>,
) -> (voiceprint_server::RunningServer, Client) {
    let server = voiceprint_server::start(test_config(data_dir, env))
        .await
        .expect("server starts");
    let client = Client::new(
        server.addr.to_string(),
        &server.access_key_id,
        &server.secret_access_key,
    );
    (server, client)
}

/// The real `voiceprint-server` binary, running.
pub struct BinaryServer {
    pub child: Child,
    pub addr: String,
    pub stdout_head: Vec<String>,
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_voiceprint-server"))
}

/// Run `voiceprint-server serve --data-dir DIR --listen 127.0.0.1:0` and wait for
/// its "listening" line.
pub fn spawn_binary(data_dir: &Path, env: &[(&str, &str)]) -> BinaryServer {
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary runs");
    // Owned by the guard from here on, so a failed start still kills the child.
    let mut server = BinaryServer {
        child,
        addr: String::new(),
        stdout_head: Vec::new(),
    };
    let stdout = server.child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "server did not report its address: {:?}",
            server.stdout_head
        );
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(addr) = line.strip_prefix("voiceprint listening on http://") {
            server.addr = addr.trim().to_string();
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return server;
        }
        server.stdout_head.push(line);
    }
}

/// The (access key id, secret) the server wrote to DIR/credentials.
pub fn read_credentials(data_dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data_dir.join("credentials")).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once('=')
                    .filter(|(a, _)| a.trim() == k)
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap()
    };
    assert!(text.starts_with("[voiceprint]"));
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

/// Every file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// POSTs raw audio bytes to a session's audio endpoint, SigV4-signed (the HTTP
/// ingestion path); `query` as on the wire (e.g. `encoding=mulaw&sample_rate=8000`).
pub async fn post_audio(c: &Client, domain: &str, session: &str, query: &str, audio: &[u8]) {
    use voiceprint_server::sigv4::{sign_headers, SigningKey};
    let path = format!("/v1/sessions/{domain}/{session}/audio");
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("host", c.addr.parse().unwrap());
    let key = SigningKey {
        access_key_id: &c.access_key_id,
        secret_access_key: &c.secret,
        region: REGION,
        service: "voiceid",
    };
    sign_headers(
        "POST",
        &path,
        query,
        &mut headers,
        audio,
        &key,
        SystemTime::now(),
    );
    let url = if query.is_empty() {
        format!("http://{}{path}", c.addr)
    } else {
        format!("http://{}{path}?{query}", c.addr)
    };
    let mut req = c.http.post(url).body(audio.to_vec());
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.to_str().unwrap());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

/// Runs blocking store work from an async test on a thread outside the runtime
/// (PostgreSQL's blocking client refuses to run on a runtime thread).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}
