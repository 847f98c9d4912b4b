//! Secrets and voiceprints never reach the logs: the real `voiceprint-server`
//! binary runs a full flow (create domain, live session with enrollment,
//! evaluation, opt-out, deletion, key rotation) with every log level on
//! (`VOICEPRINT_LOG=trace`), and its stdout and stderr are searched for the
//! AWS secret key, the session's StreamToken, the data directory's master keys,
//! and the stored voiceprint (ciphertext, as hex and base64), plus anything that
//! looks like a serialised embedding (a long base64/hex run, a long float list).
//!
//! Needs the CAM++ weights (scripts/fetch-models.sh), espeak-ng and sox; skips
//! with a message otherwise.

mod common;

mod hardening;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{post_audio, read_credentials, Client};
use hardening::*;
use serde_json::{json, Value};

/// Two master keys we write ourselves, so the test knows them byte for byte.
const KEY_DEFAULT: &str = "7d3f1c9a0b2e4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f3a5c7e9b0d2f";
const KEY_ROTATED: &str = "c0ffee11d00dfeed5eed1234abcd9876fedc5432babe0123cafe4567beef89ab";

/// Unsigned POST of audio authenticated by the session's StreamToken in the
/// query: the token is on the request line, where a request logger would see it.
async fn post_audio_with_token(c: &Client, domain: &str, session: &str, token: &str, audio: &[u8]) {
    let url = format!(
        "http://{}/v1/sessions/{domain}/{session}/audio?encoding=mulaw&sample_rate=8000&end=true&token={token}",
        c.addr
    );
    let resp = c.http.post(url).body(audio.to_vec()).send().await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap_or_default());
}

/// The longest run of characters from `alphabet` in `text`.
fn longest_run(text: &str, alphabet: impl Fn(char) -> bool) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in text.chars() {
        run = if alphabet(c) { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// The most consecutive comma-separated decimal numbers (a printed `Vec<f32>`).
fn longest_float_list(text: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for part in text.split(',') {
        let p = part.trim().trim_start_matches('[').trim_end_matches(']');
        if p.contains('.') && p.parse::<f64>().is_ok() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_at_trace_level_logs_no_secret_and_no_voiceprint() {
    let Some(models) = models_dir() else {
        eprintln!("skipping: CAM++ weights not found (run scripts/fetch-models.sh)");
        return;
    };
    for b in ["espeak-ng", "sox"] {
        if !have(b) {
            eprintln!("skipping: {b} is not installed");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let enroll_audio = mulaw_speech(&audio, "en-us+m3", LONG_TEXT);
    let verify_audio = mulaw_speech(&audio, "en-us+m3", SHORT_TEXT);

    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(data.join("keyring"))
            .unwrap();
        writeln!(f, "default = {KEY_DEFAULT}\nrotated = {KEY_ROTATED}").unwrap();
    }
    let (out_log, err_log) = (dir.path().join("stdout.log"), dir.path().join("stderr.log"));
    let models = models.display().to_string();
    let env = [
        ("VOICEPRINT_LOG", "trace"),
        ("RUST_LOG", "trace"),
        ("VOICEPRINT__ENGINE__MODELS_DIR", models.as_str()),
        ("VOICEPRINT__ENGINE__WORKERS", "2"),
    ];
    let mut server = spawn_logged(&data, &env, &out_log, &err_log);
    let (access_key_id, secret) = read_credentials(&data);
    let c = Client::new(server.addr.clone(), &access_key_id, &secret);

    let domain = c
        .ok(
            "CreateDomain",
            json!({"Name": "logs", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
        )
        .await["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_string();
    // Enrollment call: the audio is authenticated by the StreamToken in the URI.
    let started = c
        .ok(
            "StartSession",
            json!({"DomainId": domain, "SessionName": "enroll-1", "SpeakerId": "customer-a"}),
        )
        .await;
    let token = started["StreamToken"].as_str().unwrap().to_string();
    c.ok(
        "EnrollBySession",
        json!({"DomainId": domain, "SessionNameOrId": "enroll-1"}),
    )
    .await;
    post_audio_with_token(&c, &domain, "enroll-1", &token, &enroll_audio).await;
    let enrolled = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": domain, "SpeakerId": "customer-a"}),
        )
        .await;
    assert_eq!(enrolled["Speaker"]["Status"], "ENROLLED", "{enrolled}");
    // Verification call, SigV4-signed audio.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "verify-1", "SpeakerId": "customer-a"}),
    )
    .await;
    post_audio(
        &c,
        &domain,
        "verify-1",
        "encoding=mulaw&sample_rate=8000&end=true",
        &verify_audio,
    )
    .await;
    let evaluated: Value = c
        .ok(
            "EvaluateSession",
            json!({"DomainId": domain, "SessionNameOrId": "verify-1"}),
        )
        .await;
    assert_eq!(
        evaluated["AuthenticationResult"]["Decision"], "ACCEPT",
        "{evaluated}"
    );
    let ciphertexts = stored_ciphertexts(&data, "");
    assert!(!ciphertexts.is_empty(), "the enrolled voiceprint is stored");

    // Key rotation, opt-out, deletion.
    c.ok(
        "UpdateDomain",
        json!({"DomainId": domain, "Name": "logs",
               "ServerSideEncryptionConfiguration": {"KmsKeyId": "rotated"}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = c.ok("DescribeDomain", json!({"DomainId": domain})).await;
        if d["Domain"]["ServerSideEncryptionUpdateDetails"]["UpdateStatus"] == "COMPLETED" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "key rotation did not finish: {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ciphertexts = ciphertexts;
    ciphertexts.extend(stored_ciphertexts(&data, ""));
    c.ok(
        "OptOutSpeaker",
        json!({"DomainId": domain, "SpeakerId": "customer-b"}),
    )
    .await;
    c.ok(
        "DeleteSpeaker",
        json!({"DomainId": domain, "SpeakerId": "customer-a"}),
    )
    .await;
    // SIGTERM: a graceful shutdown logs too.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let logs = format!(
        "{}\n{}",
        std::fs::read_to_string(&out_log).unwrap(),
        std::fs::read_to_string(&err_log).unwrap()
    );
    // Not vacuous: the run did log at debug/trace level, about these requests.
    assert!(
        logs.contains("DEBUG") || logs.contains("TRACE"),
        "no debug output captured"
    );
    assert!(logs.contains("EnrollBySession") || logs.contains("enroll"));

    let b64 = base64::engine::general_purpose::STANDARD;
    let mut forbidden: Vec<(String, String)> = vec![
        ("the AWS secret access key".into(), secret.clone()),
        ("the session StreamToken".into(), token.clone()),
        ("the default master key".into(), KEY_DEFAULT.into()),
        ("the rotated master key".into(), KEY_ROTATED.into()),
        (
            "the default master key (upper-case hex)".into(),
            KEY_DEFAULT.to_uppercase(),
        ),
    ];
    for (i, ct) in ciphertexts.iter().enumerate() {
        // Any 24-byte window would do; three spread over the ciphertext.
        for at in [0, ct.len() / 2, ct.len() - 24] {
            let w = &ct[at..at + 24];
            forbidden.push((format!("voiceprint {i} ciphertext (hex)"), hex(w)));
            forbidden.push((format!("voiceprint {i} ciphertext (base64)"), b64.encode(w)));
        }
        forbidden.push((
            format!("voiceprint {i} (base64)"),
            b64.encode(ct)[..40].to_string(),
        ));
    }
    for (what, needle) in &forbidden {
        assert!(
            !logs.contains(needle.as_str()),
            "{what} appears in the logs"
        );
    }
    // Whatever form an embedding took, it would be a long opaque run or a long
    // list of floats (192 values for CAM++).
    let base64_run = longest_run(&logs, |c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
    assert!(
        base64_run < 200,
        "a {base64_run}-character base64-like run in the logs"
    );
    let hex_run = longest_run(&logs, |c| c.is_ascii_hexdigit());
    assert!(hex_run < 128, "a {hex_run}-digit hex run in the logs");
    let floats = longest_float_list(&logs);
    assert!(
        floats < 32,
        "a list of {floats} decimal numbers in the logs"
    );
}
