//! Crash harness on the real binary: `voiceprint-server serve` runs a random mix
//! of enrollments (StartSession + EnrollBySession + POSTed speech), opt-outs,
//! speaker deletions and domain key rotations (UpdateDomain), and is killed with
//! SIGKILL at a random moment. After every restart over the same data directory
//! the harness checks that
//! - every acknowledged enrollment is ENROLLED, opt-out OPTED_OUT, deletion gone,
//! - the domain's KmsKeyId is the last acknowledged one (or the one in flight),
//! - no ciphertext of a deleted or opted-out speaker's voiceprint (every version
//!   seen, before and after rotations, training segments included) is left in
//!   any file of the data directory: SQLite main file, WAL and shared memory.
//!
//! At the end, a rotation in progress must complete and enrolled speakers must
//! still verify.
//!
//! `VOICEPRINT_CRASH_KILLS` (default 10) kills; `VOICEPRINT_CRASH_SEED` fixes
//! the random schedule (printed on every run, so a failure can be replayed).
//! Needs the CAM++ weights, espeak-ng and sox; skips with a message otherwise.

mod common;
mod hardening;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{read_credentials, Client};
use hardening::*;
use serde_json::{json, Value};

/// Keyring the harness writes, so rotations have keys to move between.
const KEYS: [(&str, &str); 3] = [
    (
        "default",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0",
    ),
    (
        "blue",
        "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0",
    ),
    (
        "green",
        "5555aaaa5555aaaa5555aaaa5555aaaa12345678123456781234567812345678",
    ),
];

/// xorshift64*: a seeded schedule without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the server acknowledged, and what is in doubt because the kill landed
/// before the answer.
#[derive(Default)]
struct Ledger {
    /// CustomerSpeakerId → GeneratedSpeakerId of acknowledged enrollments still standing.
    enrolled: BTreeMap<String, String>,
    opted_out: BTreeSet<String>,
    deleted: BTreeSet<String>,
    /// Speakers whose last operation was not acknowledged: any state is allowed.
    in_doubt: BTreeSet<String>,
    /// Every voiceprint ciphertext seen per GeneratedSpeakerId.
    ciphertexts: BTreeMap<String, Vec<Vec<u8>>>,
    /// Generated ids whose voiceprint must be gone (deleted or opted out, acknowledged).
    erased: BTreeSet<String>,
    /// The acknowledged KmsKeyId, and one whose UpdateDomain was not answered.
    key: String,
    key_in_flight: Option<String>,
    next_speaker: u64,
    acked_ops: u64,
    /// Acknowledged operations by kind, for the report.
    acked_by_kind: BTreeMap<&'static str, u64>,
}

impl Ledger {
    fn ack(&mut self, kind: &'static str) -> Outcome {
        *self.acked_by_kind.entry(kind).or_default() += 1;
        Outcome::Acked
    }
}

#[derive(Debug)]
enum Outcome {
    Acked,
    /// The connection failed: the server is (being) killed.
    Lost,
}

/// A signed call that either gets an answer (status, body) or loses the connection.
async fn try_call_raw(c: &Client, op: &str, input: Value) -> Result<(u16, Value), Outcome> {
    let body = input.to_string().into_bytes();
    let headers = common::signed_headers(
        &c.addr,
        &format!("VoiceID.{op}"),
        &body,
        &c.access_key_id,
        &c.secret,
        SystemTime::now(),
    );
    let mut req = c
        .http
        .post(format!("http://{}/", c.addr))
        .timeout(Duration::from_secs(120))
        .body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(|_| Outcome::Lost)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|_| Outcome::Lost)?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// A signed call that must succeed unless the server dies.
async fn try_call(c: &Client, op: &str, input: Value) -> Result<Value, Outcome> {
    let (status, v) = try_call_raw(c, op, input).await?;
    assert_eq!(status, 200, "{op} failed (not a crash): {v}");
    Ok(v)
}

async fn try_post_audio(
    c: &Client,
    domain: &str,
    session: &str,
    audio: &[u8],
) -> Result<(), Outcome> {
    use voiceprint_server::sigv4::{sign_headers, SigningKey};
    let path = format!("/v1/sessions/{domain}/{session}/audio");
    let query = "encoding=mulaw&sample_rate=8000&end=true";
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("host", c.addr.parse().unwrap());
    let key = SigningKey {
        access_key_id: &c.access_key_id,
        secret_access_key: &c.secret,
        region: common::REGION,
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
    let mut req = c
        .http
        .post(format!("http://{}{path}?{query}", c.addr))
        .timeout(Duration::from_secs(120))
        .body(audio.to_vec());
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.to_str().unwrap());
    }
    let resp = req.send().await.map_err(|_| Outcome::Lost)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|_| Outcome::Lost)?;
    assert_eq!(status, 200, "audio POST failed (not a crash): {text}");
    Ok(())
}

/// One random operation; updates the ledger only on acknowledgement.
async fn random_op(
    c: &Client,
    domain: &str,
    data: &Path,
    rng: &mut Rng,
    ledger: &mut Ledger,
    speech: &[Vec<u8>],
) -> Outcome {
    let roll = rng.below(100);
    if roll < 40 || ledger.enrolled.len() < 2 {
        // Enrollment of a new customer from one call.
        let n = ledger.next_speaker;
        ledger.next_speaker += 1;
        let customer = format!("cust-{n}");
        let session = format!("call-{n}");
        ledger.in_doubt.insert(customer.clone());
        let r = async {
            try_call(
                c,
                "StartSession",
                json!({"DomainId": domain, "SessionName": session, "SpeakerId": customer}),
            )
            .await?;
            try_call(
                c,
                "EnrollBySession",
                json!({"DomainId": domain, "SessionNameOrId": session}),
            )
            .await?;
            try_post_audio(c, domain, &session, &speech[n as usize % speech.len()]).await?;
            let d = try_call(
                c,
                "DescribeSpeaker",
                json!({"DomainId": domain, "SpeakerId": customer}),
            )
            .await?;
            Ok::<_, Outcome>(d)
        }
        .await;
        match r {
            Ok(d) => {
                assert_eq!(d["Speaker"]["Status"], "ENROLLED", "{d}");
                let generated = d["Speaker"]["GeneratedSpeakerId"]
                    .as_str()
                    .unwrap()
                    .to_string();
                ledger.in_doubt.remove(&customer);
                ledger
                    .ciphertexts
                    .entry(generated.clone())
                    .or_default()
                    .extend(stored_ciphertexts(data, &generated));
                ledger.enrolled.insert(customer, generated);
                ledger.ack("enrollment")
            }
            Err(o) => o,
        }
    } else if roll < 55 {
        // Opt-out of a customer never seen (a new OPTED_OUT record).
        let customer = format!("cust-{}", ledger.next_speaker);
        ledger.next_speaker += 1;
        ledger.in_doubt.insert(customer.clone());
        match try_call(
            c,
            "OptOutSpeaker",
            json!({"DomainId": domain, "SpeakerId": customer}),
        )
        .await
        {
            Ok(_) => {
                ledger.in_doubt.remove(&customer);
                ledger.opted_out.insert(customer);
                ledger.ack("opt-out of a new customer")
            }
            Err(o) => o,
        }
    } else if roll < 85 {
        // Delete or opt out an enrolled speaker: its voiceprint must vanish.
        let i = rng.below(ledger.enrolled.len() as u64) as usize;
        let (customer, generated) = ledger
            .enrolled
            .iter()
            .nth(i)
            .map(|(a, b)| (a.clone(), b.clone()))
            .unwrap();
        ledger
            .ciphertexts
            .entry(generated.clone())
            .or_default()
            .extend(stored_ciphertexts(data, &generated));
        ledger.enrolled.remove(&customer);
        ledger.in_doubt.insert(customer.clone());
        let delete = roll < 75;
        let op = if delete {
            "DeleteSpeaker"
        } else {
            "OptOutSpeaker"
        };
        match try_call(c, op, json!({"DomainId": domain, "SpeakerId": customer})).await {
            Ok(_) => {
                ledger.in_doubt.remove(&customer);
                if delete {
                    ledger.deleted.insert(customer);
                } else {
                    ledger.opted_out.insert(customer);
                }
                ledger.erased.insert(generated);
                ledger.ack(if delete {
                    "deletion of an enrolled speaker"
                } else {
                    "opt-out of an enrolled speaker"
                })
            }
            Err(o) => o,
        }
    } else {
        // Key rotation to another keyring key.
        let current = KEYS.iter().position(|(k, _)| *k == ledger.key).unwrap();
        let next = KEYS[(current + 1 + rng.below(2) as usize) % KEYS.len()]
            .0
            .to_string();
        ledger.key_in_flight = Some(next.clone());
        match try_call_raw(
            c,
            "UpdateDomain",
            json!({"DomainId": domain, "Name": "crash",
                   "ServerSideEncryptionConfiguration": {"KmsKeyId": next}}),
        )
        .await
        {
            Ok((200, _)) => {
                ledger.key = next;
                ledger.key_in_flight = None;
                ledger.ack("key rotation")
            }
            // Voice ID refuses a new key while the previous rotation runs.
            Ok((_, v)) if v["__type"] == "ConflictException" => {
                ledger.key_in_flight = None;
                ledger.ack("key rotation refused: one in progress")
            }
            Ok((status, v)) => panic!("UpdateDomain failed (not a crash): {status} {v}"),
            Err(o) => o,
        }
    }
}

/// Everything acknowledged so far holds on the restarted server and its files.
async fn check(c: &Client, domain: &str, data: &Path, ledger: &mut Ledger) {
    let describe = |customer: String| {
        let c = c.clone();
        let domain = domain.to_string();
        async move {
            c.call(
                "DescribeSpeaker",
                json!({"DomainId": domain, "SpeakerId": customer}),
            )
            .await
        }
    };
    for (customer, generated) in &ledger.enrolled {
        let (status, v) = describe(customer.clone()).await;
        assert_eq!(status, 200, "acknowledged enrollment {customer} lost: {v}");
        assert_eq!(v["Speaker"]["Status"], "ENROLLED", "{customer}: {v}");
        assert_eq!(v["Speaker"]["GeneratedSpeakerId"], generated.as_str());
    }
    for customer in &ledger.opted_out {
        let (status, v) = describe(customer.clone()).await;
        assert_eq!(status, 200, "acknowledged opt-out {customer} lost: {v}");
        assert_eq!(v["Speaker"]["Status"], "OPTED_OUT", "{customer}: {v}");
    }
    for customer in &ledger.deleted {
        let (status, v) = describe(customer.clone()).await;
        assert_eq!(
            v["__type"], "ResourceNotFoundException",
            "acknowledged deletion of {customer} undone: {status} {v}"
        );
    }
    let d = c.ok("DescribeDomain", json!({"DomainId": domain})).await;
    let key = d["Domain"]["ServerSideEncryptionConfiguration"]["KmsKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    match ledger.key_in_flight.take() {
        Some(k) if key == k => ledger.key = k,
        _ => assert_eq!(key, ledger.key, "acknowledged key rotation lost: {d}"),
    }
    // Ciphertexts of the speakers that still have voiceprints, for later erasure checks.
    for generated in ledger.enrolled.values() {
        let seen = stored_ciphertexts(data, generated);
        ledger
            .ciphertexts
            .entry(generated.clone())
            .or_default()
            .extend(seen);
    }
    check_erased(data, ledger);
}

/// No erased voiceprint's bytes in any file of the data directory (main
/// database, WAL, shared memory), as the files are right now.
fn check_erased(data: &Path, ledger: &Ledger) {
    let files: Vec<(String, Vec<u8>)> = all_files(data)
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).unwrap_or_default(),
            )
        })
        .collect();
    for generated in &ledger.erased {
        let seen = ledger.ciphertexts.get(generated).map_or(0, Vec::len);
        assert!(
            seen > 0,
            "no ciphertext recorded for {generated}: the check would be vacuous"
        );
        for ct in ledger.ciphertexts.get(generated).into_iter().flatten() {
            for at in [0, ct.len() / 2, ct.len() - 32] {
                let window = &ct[at..at + 32];
                for (name, bytes) in &files {
                    assert!(
                        !common::contains(bytes, window),
                        "{name} still holds voiceprint bytes of erased speaker {generated}"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sigkills_lose_no_acknowledged_write_and_leave_no_erased_voiceprint() {
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
    let kills: u64 = std::env::var("VOICEPRINT_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("VOICEPRINT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash harness: {kills} kills, VOICEPRINT_CRASH_SEED={seed}");
    let mut rng = Rng(seed | 1);

    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let speech: Vec<Vec<u8>> = ["en-us+m3", "en-us+f4", "en-gb-scotland+m5"]
        .iter()
        .map(|v| mulaw_speech(&audio, v, LONG_TEXT))
        .collect();
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
        for (name, hex) in KEYS {
            writeln!(f, "{name} = {hex}").unwrap();
        }
    }
    let models = models.display().to_string();
    let env = [
        ("VOICEPRINT__ENGINE__MODELS_DIR", models.as_str()),
        ("VOICEPRINT__ENGINE__WORKERS", "2"),
        ("VOICEPRINT__THROTTLING__ENABLED", "false"),
    ];
    let (out_log, err_log) = (dir.path().join("stdout.log"), dir.path().join("stderr.log"));

    let mut server = spawn_logged(&data, &env, &out_log, &err_log);
    let (id, secret) = read_credentials(&data);
    let mut c = Client::new(server.addr.clone(), &id, &secret);
    let domain = c
        .ok(
            "CreateDomain",
            json!({"Name": "crash", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
        )
        .await["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ledger = Ledger {
        key: "default".into(),
        ..Ledger::default()
    };
    let started = Instant::now();
    for kill in 0..kills {
        // Kill after 0.1–6 s: an enrollment (embedding ~40 s of speech) takes
        // about that long, so kills land before, inside and after them.
        let delay = Duration::from_millis(100 + rng.below(5_900));
        let pid = server.child.id() as i32;
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SIGKILL: no destructors, no checkpoint, no flush.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        loop {
            if let Outcome::Lost =
                random_op(&c, &domain, &data, &mut rng, &mut ledger, &speech).await
            {
                break;
            }
            ledger.acked_ops += 1;
        }
        killer.join().unwrap();
        server.child.wait().unwrap();
        // The files exactly as the kill left them (WAL not yet recovered).
        check_erased(&data, &ledger);
        server = spawn_logged(&data, &env, &out_log, &err_log);
        c = Client::new(server.addr.clone(), &id, &secret);
        check(&c, &domain, &data, &mut ledger).await;
        eprintln!(
            "kill {}/{kills} after {delay:?}: {} acknowledged ops, {} enrolled, {} opted out, {} deleted, key {}",
            kill + 1,
            ledger.acked_ops,
            ledger.enrolled.len(),
            ledger.opted_out.len(),
            ledger.deleted.len(),
            ledger.key
        );
    }
    // A rotation interrupted by the last kill finishes after the restart.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let d = c.ok("DescribeDomain", json!({"DomainId": domain})).await;
        let status = &d["Domain"]["ServerSideEncryptionUpdateDetails"]["UpdateStatus"];
        if status.is_null() || status == "COMPLETED" {
            break;
        }
        assert_ne!(status, "FAILED", "key rotation failed after restarts: {d}");
        assert!(Instant::now() < deadline, "key rotation stuck: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The surviving voiceprints still decrypt and score: each verifies against itself.
    if let Some((customer, _)) = ledger.enrolled.iter().next() {
        let session = "final-check";
        c.ok(
            "StartSession",
            json!({"DomainId": domain, "SessionName": session, "SpeakerId": customer}),
        )
        .await;
        let n: usize = customer.trim_start_matches("cust-").parse().unwrap();
        try_post_audio(&c, &domain, session, &speech[n % speech.len()])
            .await
            .unwrap();
        let v = c
            .ok(
                "EvaluateSession",
                json!({"DomainId": domain, "SessionNameOrId": session}),
            )
            .await;
        assert_eq!(v["AuthenticationResult"]["Decision"], "ACCEPT", "{v}");
    }
    check(&c, &domain, &data, &mut ledger).await;
    eprintln!(
        "crash harness passed: {kills} kills, seed {seed}, {} acknowledged ops {:?}, {} in doubt, {:.0} s",
        ledger.acked_ops,
        ledger.acked_by_kind,
        ledger.in_doubt.len(),
        started.elapsed().as_secs_f64()
    );
}
