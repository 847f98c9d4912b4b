//! Live call sessions end to end (issue 8): a real server on port 0 with the real
//! CAM++ model and SQLite store, real speech generated with espeak-ng and put
//! through sox as 8 kHz G.711 μ-law, streamed over the native WebSocket, Twilio
//! Media Streams and HTTP POST, at real-time pace and faster.
//!
//! Voices (checked separable with CAM++ on this channel before relying on them:
//! same voice ≥ 99, these pairs ≤ 21): A = `en-us+m3` (the enrolled customer),
//! B = `en-us+f4` (an impostor), C = `en-gb-scotland+m5` (a fraudster).
//!
//! Skips, with a message, when the model weights (scripts/fetch-models.sh),
//! espeak-ng or sox are missing. What belongs here: behaviour of the session
//! routes and operations; protocol parsing details are unit tests in `src/stream`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::Client;

const VOICE_A: &str = "en-us+m3";
const VOICE_B: &str = "en-us+f4";
const VOICE_C: &str = "en-gb-scotland+m5";

/// Long enough for 30 s of net speech (enrollment, fraudster registration).
const LONG_TEXT: &str = "The quick brown fox jumps over the lazy dog while the farmer counts his sheep in the early morning light. \
My account number is four five six seven, and I would like to check the balance on my savings account please. \
I have been a customer of this bank for more than ten years and I always pay my bills on time. \
Yesterday I tried to transfer some money to my sister but the transaction did not go through, so I am calling to find out what happened. \
Could you also tell me when my new card will arrive in the mail? I moved to a new address last month, on the corner of Maple Street and Seventh Avenue, right next to the old library. \
The weather has been terrible lately and the roads near my house are flooded, which is why I could not come to the branch in person.";

/// About 12 s of speech: a verification call.
const SHORT_TEXT: &str = "Hello, I am calling about a payment that I made last week. The amount was two hundred and fifteen dollars \
and it was sent to the electric company. Please let me know if there is anything else you need from me today.";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    dir.join("campplus/campplus_cn_en_common.pt")
        .is_file()
        .then_some(dir)
}

fn have(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why these tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    if models_dir().is_none() {
        return Some("CAM++ weights not found (run scripts/fetch-models.sh)".into());
    }
    for b in ["espeak-ng", "sox"] {
        if !have(b) {
            return Some(format!("{b} is not installed"));
        }
    }
    None
}

macro_rules! skip_unless_ready {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// `text` spoken by espeak-ng `voice`, as headerless 8 kHz μ-law (Twilio's format).
fn mulaw_speech(dir: &Path, voice: &str, text: &str) -> Vec<u8> {
    let wav = dir.join(format!("{voice}-{}.wav", text.len()));
    let raw = dir.join(format!("{voice}-{}.ulaw", text.len()));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "160", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .unwrap()
        .success();
    assert!(ok, "espeak-ng failed for {voice}");
    let ok = Command::new("sox")
        .arg("-q")
        .arg(&wav)
        .args([
            "-t", "raw", "-r", "8000", "-e", "u-law", "-b", "8", "-c", "1",
        ])
        .arg(&raw)
        .status()
        .unwrap()
        .success();
    assert!(ok, "sox failed for {voice}");
    std::fs::read(&raw).unwrap()
}

async fn start_server(data: &Path) -> (voiceprint_server::RunningServer, Client) {
    let env = vec![
        (
            "VOICEPRINT__ENGINE__MODELS_DIR".to_string(),
            models_dir().unwrap().display().to_string(),
        ),
        ("VOICEPRINT__ENGINE__WORKERS".to_string(), "2".to_string()),
    ];
    let server = voiceprint_server::start(common::test_config(data, env))
        .await
        .expect("server starts");
    let client = Client::new(
        server.addr.to_string(),
        &server.access_key_id,
        &server.secret_access_key,
    );
    (server, client)
}

async fn create_domain(c: &Client) -> String {
    let d = c
        .ok(
            "CreateDomain",
            json!({"Name": "calls", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
        )
        .await;
    d["Domain"]["DomainId"].as_str().unwrap().to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// SigV4 headers (host, x-amz-date, authorization) for `method path` with `body`,
/// written from the spec (independently of the server's verifier).
fn sigv4(c: &Client, method: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
    sigv4_with_query(c, method, path, "", body)
}

/// What a stream saw: the server's JSON events and its close frame.
#[derive(Debug, Default)]
struct StreamLog {
    events: Vec<Value>,
    close_code: Option<u16>,
    close_reason: String,
}

impl StreamLog {
    fn last_evaluation(&self) -> &Value {
        self.events
            .iter()
            .rev()
            .find(|e| e["event"] == "evaluation")
            .expect("an evaluation event")
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, headers: Vec<(String, String)>) -> Result<Ws, String> {
    let mut request = url.into_client_request().unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads until the server closes; collects JSON events.
async fn drain(ws: &mut Ws, log: &mut StreamLog) {
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
        match msg {
            Ok(Message::Text(t)) => log.events.push(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(frame)) => {
                if let Some(f) = frame {
                    log.close_code = Some(u16::from(f.code));
                    log.close_reason = f.reason.to_string();
                }
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// Streams μ-law audio over the native WebSocket (SigV4 on the upgrade), 20 ms per
/// frame, at `pace` × real time (None = as fast as possible). `during` runs once
/// after each server event while streaming (e.g. an EvaluateSession mid-call).
async fn stream_native(
    c: &Client,
    domain: &str,
    session: &str,
    audio: &[u8],
    speaker: Option<&str>,
    pace: Option<f64>,
) -> StreamLog {
    let path = format!("/v1/sessions/{domain}/{session}/audio");
    let mut ws = connect(
        &format!("ws://{}{path}", c.addr),
        sigv4(c, "GET", &path, b""),
    )
    .await
    .expect("upgrade");
    let mut format = json!({"encoding": "mulaw", "sample_rate": 8000});
    if let Some(s) = speaker {
        format["speaker_id"] = json!(s);
    }
    ws.send(Message::Text(format.to_string().into()))
        .await
        .unwrap();
    let mut log = StreamLog::default();
    let started = std::time::Instant::now();
    for (i, chunk) in audio.chunks(160).enumerate() {
        ws.send(Message::Binary(chunk.to_vec().into()))
            .await
            .unwrap();
        if let Some(p) = pace {
            let due = Duration::from_secs_f64((i + 1) as f64 * 0.02 / p);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        // Collect what the server sent meanwhile, without waiting.
        while let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(0), ws.next()).await
        {
            log.events.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    ws.send(Message::Text(json!({"event": "stop"}).to_string().into()))
        .await
        .unwrap();
    drain(&mut ws, &mut log).await;
    log
}

/// Streams μ-law audio as Twilio Media Streams does (connected, start with
/// customParameters, base64 media, stop).
async fn stream_twilio(c: &Client, params: Value, audio: &[u8], pace: Option<f64>) -> StreamLog {
    use base64::Engine as _;
    let mut ws = connect(&format!("ws://{}/v1/twilio", c.addr), Vec::new())
        .await
        .expect("upgrade");
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
    ))
    .await
    .unwrap();
    ws.send(send(json!({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA11111111111111111111111111111111",
                  "tracks": ["inbound"], "customParameters": params,
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for (i, chunk) in audio.chunks(160).enumerate() {
        let payload = base64::engine::general_purpose::STANDARD.encode(chunk);
        ws.send(send(json!({"event": "media", "sequenceNumber": (i + 2).to_string(), "streamSid": "MZ1",
            "media": {"track": "inbound", "chunk": (i + 1).to_string(), "timestamp": (i * 20).to_string(), "payload": payload}})))
            .await
            .unwrap();
        if let Some(p) = pace {
            let due = Duration::from_secs_f64((i + 1) as f64 * 0.02 / p);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    ws.send(send(
        json!({"event": "stop", "streamSid": "MZ1", "stop": {"accountSid": "AC1"}}),
    ))
    .await
    .unwrap();
    let mut log = StreamLog::default();
    drain(&mut ws, &mut log).await;
    log
}

async fn evaluate(c: &Client, domain: &str, session: &str) -> Value {
    c.ok(
        "EvaluateSession",
        json!({"DomainId": domain, "SessionNameOrId": session}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enroll_from_one_session_then_accept_the_speaker_and_reject_an_impostor() {
    skip_unless_ready!();
    let dir = tempfile::tempdir().unwrap();
    let audio_dir = dir.path().join("audio");
    std::fs::create_dir_all(&audio_dir).unwrap();
    let a_long = mulaw_speech(&audio_dir, VOICE_A, LONG_TEXT);
    let a_short = mulaw_speech(&audio_dir, VOICE_A, SHORT_TEXT);
    let b_short = mulaw_speech(&audio_dir, VOICE_B, SHORT_TEXT);
    let (server, c) = start_server(&dir.path().join("data")).await;
    let domain = create_domain(&c).await;
    // The default scoring is the fused system (docs/CALIBRATION.md): these μ-law calls
    // are scored with its narrowband weights and calibration.
    let health: Value = reqwest::get(format!("http://{}/health", server.addr)).await.unwrap().json().await.unwrap();
    assert_eq!(health["speaker_model"], "fusion", "{health}");

    // --- enrollment call: native WebSocket, faster than real time ---
    let started = c
        .ok(
            "StartSession",
            json!({"DomainId": domain, "SessionName": "enroll-call-1", "SpeakerId": "customer-a"}),
        )
        .await;
    assert_eq!(
        started["Session"]["StreamingStatus"],
        "PENDING_CONFIGURATION"
    );
    assert!(started["StreamToken"]
        .as_str()
        .is_some_and(|t| t.len() > 20));
    let before = evaluate(&c, &domain, "enroll-call-1").await;
    assert_eq!(before["StreamingStatus"], "PENDING_CONFIGURATION");
    // customer-a does not exist yet.
    assert_eq!(
        before["AuthenticationResult"]["Decision"],
        "SPEAKER_NOT_ENROLLED"
    );
    // An enrollment requested before the audio waits for it.
    let pending = c
        .ok(
            "EnrollBySession",
            json!({"DomainId": domain, "SessionNameOrId": "enroll-call-1"}),
        )
        .await;
    assert_eq!(pending["Status"], "IN_PROGRESS", "{pending}");
    let log = stream_native(&c, &domain, "enroll-call-1", &a_long, None, None).await;
    assert_eq!(log.close_code, Some(1000), "{log:?}");
    assert_eq!(log.events[0]["event"], "started");
    let progress: Vec<f64> = log
        .events
        .iter()
        .filter(|e| e["event"] == "progress")
        .map(|e| e["NetSpeechSeconds"].as_f64().unwrap())
        .collect();
    assert!(
        progress.len() >= 10,
        "segments embedded incrementally: {progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[1] > w[0]));
    let total = *progress.last().unwrap();
    assert!(
        total >= 30.0,
        "the enrollment call holds {total} s of net speech"
    );
    let described = c
        .ok(
            "DescribeSession",
            json!({"DomainId": domain, "SessionNameOrId": "enroll-call-1"}),
        )
        .await;
    let session = &described["Session"];
    assert_eq!(session["StreamingStatus"], "ENDED");
    assert_eq!(
        session["EnrollmentRequestDetails"]["Status"], "COMPLETED",
        "{session}"
    );
    assert_eq!(
        session["EnrollmentRequestDetails"]["EnrollmentOutcome"],
        "NEW_ENROLLMENT"
    );
    assert!(session["ExpiresAt"].as_f64().unwrap() > session["UpdatedAt"].as_f64().unwrap());
    let speaker = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": domain, "SpeakerId": "customer-a"}),
        )
        .await;
    assert_eq!(speaker["Speaker"]["Status"], "ENROLLED");
    // One enrollment per session.
    c.err(
        "EnrollBySession",
        json!({"DomainId": domain, "SessionNameOrId": "enroll-call-1"}),
        "ConflictException",
    )
    .await;
    // Audio to an ENDED session is refused (its token opens only that session).
    let token = started["StreamToken"].as_str().unwrap();
    let mut ws = connect(
        &format!(
            "ws://{}/v1/sessions/{domain}/enroll-call-1/audio?token={token}",
            c.addr
        ),
        Vec::new(),
    )
    .await
    .unwrap();
    ws.send(Message::Text(
        json!({"encoding": "mulaw", "sample_rate": 8000})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut again = StreamLog::default();
    drain(&mut ws, &mut again).await;
    assert_eq!(again.close_code, Some(1007), "{again:?}");
    assert!(
        again.close_reason.contains("ended"),
        "{}",
        again.close_reason
    );

    // --- verification call by A: native WebSocket at real-time pace ---
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "verify-a", "SpeakerId": "customer-a",
               "StreamingConfiguration": {"AuthenticationMinimumSpeechInSeconds": 5}}),
    )
    .await;
    let log = stream_native(&c, &domain, "verify-a", &a_short, None, Some(1.0)).await;
    assert_eq!(log.close_code, Some(1000), "{log:?}");
    // The first evaluation event comes when the net speech reaches the response time.
    let first = log
        .events
        .iter()
        .find(|e| e["event"] == "evaluation")
        .expect("evaluation when the response time was reached");
    assert_eq!(
        first["AuthenticationResult"]["Decision"], "ACCEPT",
        "{first}"
    );
    assert_eq!(first["StreamingStatus"], "ONGOING");
    let result = evaluate(&c, &domain, "verify-a").await;
    let auth = &result["AuthenticationResult"];
    assert_eq!(auth["Decision"], "ACCEPT", "{result}");
    assert!(auth["Score"].as_u64().unwrap() >= 90, "{auth}");
    assert_eq!(auth["CustomerSpeakerId"], "customer-a");
    assert_eq!(
        auth["GeneratedSpeakerId"],
        speaker["Speaker"]["GeneratedSpeakerId"]
    );
    assert_eq!(auth["Configuration"]["AcceptanceThreshold"], 90);
    assert!(
        auth["AudioAggregationEndedAt"].as_f64().unwrap()
            >= auth["AudioAggregationStartedAt"].as_f64().unwrap()
    );
    let fraud = &result["FraudDetectionResult"];
    assert_eq!(fraud["Decision"], "LOW_RISK", "{fraud}");
    assert_eq!(fraud["RiskDetails"]["VoiceSpoofingRisk"]["RiskScore"], 0);
    assert!(fraud["RiskDetails"]["KnownFraudsterRisk"]["RiskScore"].is_u64());
    assert_eq!(result["StreamingStatus"], "ENDED");
    // Cached: same result id until something changes ...
    let cached = evaluate(&c, &domain, "verify-a").await;
    assert_eq!(
        cached["AuthenticationResult"],
        result["AuthenticationResult"]
    );
    assert_eq!(
        cached["FraudDetectionResult"],
        result["FraudDetectionResult"]
    );
    // ... such as the acceptance threshold: a new result with a new id.
    c.ok(
        "UpdateSession",
        json!({"DomainId": domain, "SessionNameOrId": "verify-a",
               "AuthenticationConfiguration": {"AcceptanceThreshold": 100}}),
    )
    .await;
    let stricter = evaluate(&c, &domain, "verify-a").await;
    assert_ne!(
        stricter["AuthenticationResult"]["AuthenticationResultId"],
        result["AuthenticationResult"]["AuthenticationResultId"]
    );
    assert_eq!(stricter["AuthenticationResult"]["Score"], auth["Score"]);
    assert_eq!(
        stricter["AuthenticationResult"]["Configuration"]["AcceptanceThreshold"],
        100
    );
    assert_eq!(
        stricter["FraudDetectionResult"]["FraudDetectionResultId"],
        result["FraudDetectionResult"]["FraudDetectionResultId"]
    );

    // --- B claims to be A: Twilio Media Streams with the session's token, 4x real time ---
    let s = c
        .ok(
            "StartSession",
            json!({"DomainId": domain, "SessionName": "verify-b", "SpeakerId": "customer-a"}),
        )
        .await;
    let token = s["StreamToken"].as_str().unwrap();
    let log = stream_twilio(
        &c,
        json!({"DomainId": domain, "SessionName": "verify-b", "StreamToken": token}),
        &b_short,
        Some(4.0),
    )
    .await;
    assert_eq!(log.close_code, Some(1000), "{log:?}");
    let result = evaluate(&c, &domain, "verify-b").await;
    assert_eq!(
        result["AuthenticationResult"]["Decision"], "REJECT",
        "{result}"
    );
    assert!(result["AuthenticationResult"]["Score"].as_u64().unwrap() < 90);
    assert_eq!(result["StreamingStatus"], "ENDED");
    // A wrong token opens nothing.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "verify-c", "SpeakerId": "customer-a"}),
    )
    .await;
    let log = stream_twilio(
        &c,
        json!({"DomainId": domain, "SessionName": "verify-c", "StreamToken": token}),
        &b_short[..8000],
        None,
    )
    .await;
    assert_eq!(log.close_code, Some(1008), "{log:?}");
    assert!(
        log.close_reason.contains("AccessDenied"),
        "{}",
        log.close_reason
    );

    // --- A again over Twilio, signed customParameters, session started implicitly ---
    let headers = sigv4(
        &c,
        "GET",
        &format!("/v1/sessions/{domain}/twilio-a/audio"),
        b"",
    );
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
    let log = stream_twilio(
        &c,
        json!({"DomainId": domain, "SessionName": "twilio-a", "CustomerSpeakerId": "customer-a",
               "Authorization": get("authorization"), "X-Amz-Date": get("x-amz-date")}),
        &a_short,
        None,
    )
    .await;
    assert_eq!(log.close_code, Some(1000), "{log:?}");
    let result = evaluate(&c, &domain, "twilio-a").await;
    assert_eq!(
        result["AuthenticationResult"]["Decision"], "ACCEPT",
        "{result}"
    );

    // Results persist across a restart.
    let data = dir.path().join("data");
    server.stop().await.unwrap();
    let (_server, c) = start_server(&data).await;
    let after = evaluate(&c, &domain, "verify-b").await;
    assert_eq!(after["AuthenticationResult"]["Decision"], "REJECT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn not_enough_speech_before_the_response_time_then_speaker_states() {
    skip_unless_ready!();
    let dir = tempfile::tempdir().unwrap();
    let audio_dir = dir.path().join("audio");
    std::fs::create_dir_all(&audio_dir).unwrap();
    let a_short = mulaw_speech(&audio_dir, VOICE_A, SHORT_TEXT);
    let (server, c) = start_server(&dir.path().join("data")).await;
    let domain = create_domain(&c).await;

    // Four seconds of audio hold less than the 10 s response time of net speech.
    let post = |session: &str, audio: Vec<u8>, query: &str| {
        let c = c.clone();
        let path = format!("/v1/sessions/{domain}/{session}/audio");
        let url = format!("http://{}{path}?{query}", c.addr);
        let query = query.to_owned();
        async move {
            let headers = sigv4_with_query(&c, "POST", &path, &query, &audio);
            let mut req = c.http.post(url).body(audio);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Customer x is enrolled with A's voice through a session of its own.
    let long = mulaw_speech(&audio_dir, VOICE_A, LONG_TEXT);
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "enroll-x", "SpeakerId": "customer-x"}),
    )
    .await;
    let (status, _) = post("enroll-x", long, "encoding=mulaw&sample_rate=8000&end=true").await;
    assert_eq!(status, 200);
    let e = c
        .ok(
            "EnrollBySession",
            json!({"DomainId": domain, "SessionNameOrId": "enroll-x"}),
        )
        .await;
    assert_eq!(e["Status"], "COMPLETED", "{e}");

    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "short-1", "SpeakerId": "customer-x"}),
    )
    .await;
    let (status, body) = post(
        "short-1",
        a_short[..4 * 8000].to_vec(),
        "encoding=mulaw&sample_rate=8000",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["StreamingStatus"], "ONGOING");
    assert_eq!(
        body["AuthenticationResult"]["Decision"], "NOT_ENOUGH_SPEECH",
        "{body}"
    );
    assert!(body["AuthenticationResult"].get("Score").is_none());
    assert_eq!(
        body["FraudDetectionResult"]["Decision"],
        "NOT_ENOUGH_SPEECH"
    );
    // The rest of the call arrives: enough speech now.
    let (status, body) = post(
        "short-1",
        a_short[4 * 8000..].to_vec(),
        "encoding=mulaw&sample_rate=8000&end=true",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["StreamingStatus"], "ENDED");
    assert_eq!(body["AuthenticationResult"]["Decision"], "ACCEPT", "{body}");

    // No speaker on the session.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "anon"}),
    )
    .await;
    let (_, body) = post(
        "anon",
        a_short.clone(),
        "encoding=mulaw&sample_rate=8000&end=true",
    )
    .await;
    assert_eq!(
        body["AuthenticationResult"]["Decision"], "SPEAKER_ID_NOT_PROVIDED",
        "{body}"
    );
    assert_eq!(body["FraudDetectionResult"]["Decision"], "LOW_RISK");
    c.err(
        "EnrollBySession",
        json!({"DomainId": domain, "SessionNameOrId": "anon"}),
        "ConflictException",
    )
    .await;

    // Opted out.
    c.ok(
        "OptOutSpeaker",
        json!({"DomainId": domain, "SpeakerId": "customer-opt"}),
    )
    .await;
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "opted", "SpeakerId": "customer-opt"}),
    )
    .await;
    let (_, body) = post(
        "opted",
        a_short.clone(),
        "encoding=mulaw&sample_rate=8000&end=true",
    )
    .await;
    assert_eq!(
        body["AuthenticationResult"]["Decision"], "SPEAKER_OPTED_OUT",
        "{body}"
    );

    // Expired: enrolled, last accessed more than three years ago.
    let vp = voiceprint_engine::scoring::Voiceprint::enroll(
        "campplus",
        &[voiceprint_engine::scoring::EnrollmentSample {
            embedding: &[0.5f32; 192],
            net_speech_seconds: 30.0,
        }],
    )
    .unwrap();
    let four_years_ago = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - 4.0 * 365.0 * 86_400.0;
    common::off_runtime(|| {
        server
            .service
            .admin_put_speakers(
                &domain,
                vec![("customer-old".into(), vp.to_bytes())],
                Some(four_years_ago),
            )
            .unwrap()
    });
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "expired", "SpeakerId": "customer-old"}),
    )
    .await;
    let (_, body) = post(
        "expired",
        a_short.clone(),
        "encoding=mulaw&sample_rate=8000&end=true",
    )
    .await;
    assert_eq!(
        body["AuthenticationResult"]["Decision"], "SPEAKER_EXPIRED",
        "{body}"
    );

    // Not enrolled.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "unknown", "SpeakerId": "customer-new"}),
    )
    .await;
    let (_, body) = post(
        "unknown",
        a_short.clone(),
        "encoding=mulaw&sample_rate=8000&end=true",
    )
    .await;
    assert_eq!(
        body["AuthenticationResult"]["Decision"], "SPEAKER_NOT_ENROLLED",
        "{body}"
    );

    // Unsigned POSTs are refused.
    let resp = c
        .http
        .post(format!(
            "http://{}/v1/sessions/{domain}/unknown/audio",
            c.addr
        ))
        .body(vec![0u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}

/// [`sigv4`] over a request with a query string (params sorted, already encoded).
fn sigv4_with_query(
    c: &Client,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let (amz, date) = common::amz_date(SystemTime::now());
    let host = &c.addr;
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    params.sort_unstable();
    let canonical = format!(
        "{method}\n{path}\n{}\nhost:{host}\nx-amz-date:{amz}\n\nhost;x-amz-date\n{}",
        params.join("&"),
        hex(&Sha256::digest(body))
    );
    let scope = format!("{date}/{}/voiceid/aws4_request", common::REGION);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut k = hmac(format!("AWS4{}", c.secret).as_bytes(), &date);
    for part in [common::REGION, "voiceid", "aws4_request"] {
        k = hmac(&k, part);
    }
    let signature = hex(&hmac(&k, &to_sign));
    vec![
        ("host".into(), host.clone()),
        ("x-amz-date".into(), amz),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}",
                c.access_key_id
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fraudster_on_the_sessions_watchlist_is_high_risk() {
    skip_unless_ready!();
    let dir = tempfile::tempdir().unwrap();
    let audio_dir = dir.path().join("audio");
    std::fs::create_dir_all(&audio_dir).unwrap();
    let c_long = mulaw_speech(&audio_dir, VOICE_C, LONG_TEXT);
    let c_short = mulaw_speech(&audio_dir, VOICE_C, SHORT_TEXT);
    let a_short = mulaw_speech(&audio_dir, VOICE_A, SHORT_TEXT);
    let (_server, c) = start_server(&dir.path().join("data")).await;
    let domain = create_domain(&c).await;
    let watchlist = c
        .ok(
            "CreateWatchlist",
            json!({"DomainId": domain, "Name": "wire-fraud"}),
        )
        .await["Watchlist"]["WatchlistId"]
        .as_str()
        .unwrap()
        .to_owned();

    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "fraud-call"}),
    )
    .await;
    stream_native(&c, &domain, "fraud-call", &c_long, None, None).await;
    let reg = c
        .ok(
            "RegisterFraudsterBySession",
            json!({"DomainId": domain, "SessionNameOrId": "fraud-call", "WatchlistIds": [watchlist]}),
        )
        .await;
    assert_eq!(reg["RegistrationStatus"], "NEW_REGISTRATION", "{reg}");
    let fraudster = reg["GeneratedFraudsterId"].as_str().unwrap().to_owned();
    // Registering the same voice again is a duplicate.
    let dup = c
        .ok(
            "RegisterFraudsterBySession",
            json!({"DomainId": domain, "SessionNameOrId": "fraud-call", "WatchlistIds": [watchlist]}),
        )
        .await;
    assert_eq!(dup["RegistrationStatus"], "DUPLICATE_SKIPPED");
    assert_eq!(dup["GeneratedFraudsterId"], fraudster);

    // The fraudster calls again; the session watches that watchlist.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "fraud-again",
               "FraudDetectionConfiguration": {"RiskThreshold": 50, "WatchlistId": watchlist}}),
    )
    .await;
    let log = stream_native(&c, &domain, "fraud-again", &c_short, None, None).await;
    let result = log.last_evaluation();
    let fraud = &result["FraudDetectionResult"];
    assert_eq!(fraud["Decision"], "HIGH_RISK", "{result}");
    assert_eq!(fraud["Reasons"], json!(["KNOWN_FRAUDSTER"]));
    assert_eq!(
        fraud["RiskDetails"]["KnownFraudsterRisk"]["GeneratedFraudsterId"],
        fraudster.as_str()
    );
    assert!(
        fraud["RiskDetails"]["KnownFraudsterRisk"]["RiskScore"]
            .as_u64()
            .unwrap()
            >= 50
    );
    assert_eq!(fraud["Configuration"]["WatchlistId"], watchlist.as_str());

    // A genuine customer on the same watchlist is low risk.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "honest",
               "FraudDetectionConfiguration": {"WatchlistId": watchlist}}),
    )
    .await;
    let log = stream_native(&c, &domain, "honest", &a_short, None, None).await;
    let fraud = &log.last_evaluation()["FraudDetectionResult"];
    assert_eq!(fraud["Decision"], "LOW_RISK", "{fraud}");
    assert!(fraud.get("Reasons").is_none());
    // The fraudster is not on the default watchlist: a session watching it sees no risk.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "default-wl"}),
    )
    .await;
    let log = stream_native(&c, &domain, "default-wl", &c_short, None, None).await;
    assert_eq!(
        log.last_evaluation()["FraudDetectionResult"]["Decision"],
        "LOW_RISK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_frames_and_json_close_cleanly_and_leave_other_sessions_alone() {
    skip_unless_ready!();
    let dir = tempfile::tempdir().unwrap();
    let audio_dir = dir.path().join("audio");
    std::fs::create_dir_all(&audio_dir).unwrap();
    let a_short = mulaw_speech(&audio_dir, VOICE_A, SHORT_TEXT);
    let (_server, c) = start_server(&dir.path().join("data")).await;
    let domain = create_domain(&c).await;
    let path = |s: &str| format!("/v1/sessions/{domain}/{s}/audio");
    let url = |s: &str| format!("ws://{}{}", c.addr, path(s));

    // A healthy call runs alongside the broken ones.
    let healthy = {
        let c = c.clone();
        let domain = domain.clone();
        let audio = a_short.clone();
        tokio::spawn(
            async move { stream_native(&c, &domain, "healthy", &audio, None, Some(2.0)).await },
        )
    };

    let cases: Vec<(&str, Vec<Message>, u16, &str)> = vec![
        (
            "not-json",
            vec![Message::Text("{nope".into())],
            1007,
            "not JSON",
        ),
        (
            "audio-first",
            vec![Message::Binary(vec![0u8; 160].into())],
            1002,
            "before the format frame",
        ),
        (
            "bad-format",
            vec![Message::Text(
                r#"{"encoding":"opus","sample_rate":48000}"#.into(),
            )],
            1007,
            "opus",
        ),
    ];
    for (session, frames, code, why) in cases {
        let mut ws = connect(&url(session), sigv4(&c, "GET", &path(session), b""))
            .await
            .unwrap();
        for f in frames {
            ws.send(f).await.unwrap();
        }
        let mut log = StreamLog::default();
        drain(&mut ws, &mut log).await;
        assert_eq!(log.close_code, Some(code), "{session}: {log:?}");
        assert!(
            log.close_reason.contains(why),
            "{session}: {}",
            log.close_reason
        );
    }

    // Twilio: garbage JSON and media before start.
    for (frames, code, why) in [
        (vec![Message::Text("[[".into())], 1007, "not a Twilio message"),
        (
            vec![Message::Text(r#"{"event":"media","media":{"payload":"AAAA"}}"#.into())],
            1002,
            "before the start",
        ),
        (
            vec![Message::Text(
                r#"{"event":"start","start":{"callSid":"CA1","customParameters":{"DomainId":"x"}}}"#.into(),
            )],
            1008,
            "DomainId",
        ),
    ] {
        let mut ws = connect(&format!("ws://{}/v1/twilio", c.addr), Vec::new()).await.unwrap();
        for f in frames {
            ws.send(f).await.unwrap();
        }
        let mut log = StreamLog::default();
        drain(&mut ws, &mut log).await;
        assert_eq!(log.close_code, Some(code), "{log:?}");
        assert!(log.close_reason.contains(why), "{}", log.close_reason);
    }

    // An unsigned upgrade is refused before any WebSocket exists.
    let err = connect(&url("unsigned"), Vec::new()).await.unwrap_err();
    assert!(err.contains("403"), "{err}");

    // A second stream into a session that is streaming is refused.
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "busy"}),
    )
    .await;
    let mut first = connect(&url("busy"), sigv4(&c, "GET", &path("busy"), b""))
        .await
        .unwrap();
    first
        .send(Message::Text(
            json!({"encoding": "mulaw", "sample_rate": 8000})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let started = first.next().await.unwrap().unwrap();
    assert!(started.to_text().unwrap().contains("started"));
    let mut second = connect(&url("busy"), sigv4(&c, "GET", &path("busy"), b""))
        .await
        .unwrap();
    second
        .send(Message::Text(
            json!({"encoding": "mulaw", "sample_rate": 8000})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let mut log = StreamLog::default();
    drain(&mut second, &mut log).await;
    assert_eq!(log.close_code, Some(1008), "{log:?}");
    assert!(
        log.close_reason.contains("ANOTHER") || log.close_reason.contains("already open"),
        "{}",
        log.close_reason
    );
    first.send(Message::Close(None)).await.unwrap();

    let healthy = healthy.await.unwrap();
    assert_eq!(healthy.close_code, Some(1000), "{healthy:?}");
    assert_eq!(
        healthy.last_evaluation()["AuthenticationResult"]["Decision"],
        "SPEAKER_ID_NOT_PROVIDED"
    );
    assert!(
        healthy
            .events
            .iter()
            .filter(|e| e["event"] == "progress")
            .count()
            >= 3
    );
}
