//! The agent panel end to end (issue 12): a real server in-process, agent tokens
//! minted through the API (CreateAgentToken), the panel's endpoints read over HTTP,
//! and the page itself driven in Debian's headless Chromium by
//! `tests/agent-ui/drive.mjs` (playwright-core) while real speech (espeak-ng
//! through sox as 8 kHz μ-law, with the real CAM++ model) streams into the call's
//! session over the native WebSocket.
//!
//! Skips, with a message, what the machine lacks: the model weights, espeak-ng or
//! sox (speech tests), node, `tests/agent-ui/node_modules` or chromium (browser).
//! Screenshots go to `$AGENT_UI_SCREENSHOTS`, else `$OUT/agent-ui-screenshots`, else
//! `<target>/agent-ui-screenshots`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use common::Client;

/// Over 30 s of net speech: enough to enroll (the contacts test's text).
const LONG_TEXT: &str = "The quick brown fox jumps over the lazy dog while the farmer counts his sheep in the early morning light. \
My account number is four five six seven, and I would like to check the balance on my savings account please. \
I have been a customer of this bank for more than ten years and I always pay my bills on time. \
Yesterday I tried to transfer some money to my sister but the transaction did not go through, so I am calling to find out what happened. \
Could you also tell me when my new card will arrive in the mail? I moved to a new address last month, on the corner of Maple Street and Seventh Avenue.";

const VOICE: &str = "en-us+m3";

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

fn runs(binary: &str, arg: &str) -> bool {
    Command::new(binary)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn speech_skip_reason() -> Option<String> {
    if models_dir().is_none() {
        return Some("CAM++ weights not found (run scripts/fetch-models.sh)".into());
    }
    for b in ["espeak-ng", "sox"] {
        if !runs(b, "--version") {
            return Some(format!("{b} is not installed"));
        }
    }
    None
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn browser_skip_reason() -> Option<String> {
    if let Some(r) = speech_skip_reason() {
        return Some(r);
    }
    if !runs("node", "--version") {
        return Some("node is not installed".into());
    }
    if !repo()
        .join("tests/agent-ui/node_modules/playwright-core")
        .is_dir()
    {
        return Some("tests/agent-ui/node_modules is missing (run `npm ci` there)".into());
    }
    if !chromium().is_file() {
        return Some(format!(
            "{} not found (apt-get install chromium)",
            chromium().display()
        ));
    }
    None
}

fn screenshots_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("AGENT_UI_SCREENSHOTS") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("OUT") {
        return PathBuf::from(d).join("agent-ui-screenshots");
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("agent-ui-screenshots")
}

/// `text` by espeak-ng `voice` as headerless 8 kHz μ-law.
fn mulaw_speech(dir: &Path, voice: &str, text: &str) -> Vec<u8> {
    let wav = dir.join("speech.wav");
    let raw = dir.join("speech.ulaw");
    assert!(Command::new("espeak-ng")
        .args(["-v", voice, "-s", "160", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .unwrap()
        .success());
    assert!(Command::new("sox")
        .arg("-q")
        .arg(&wav)
        .args(["-t", "raw", "-r", "8000", "-e", "u-law", "-b", "8", "-c", "1"])
        .arg(&raw)
        .status()
        .unwrap()
        .success());
    std::fs::read(&raw).unwrap()
}

async fn start(dir: &Path, with_model: bool) -> (voiceprint_server::RunningServer, Client) {
    let mut env = Vec::new();
    if with_model {
        env.push((
            "VOICEPRINT__ENGINE__MODELS_DIR".to_string(),
            models_dir().unwrap().display().to_string(),
        ));
        env.push(("VOICEPRINT__ENGINE__WORKERS".to_string(), "2".to_string()));
    }
    let server = voiceprint_server::start(common::test_config(&dir.join("data"), env))
        .await
        .expect("server starts");
    let c = Client::new(
        server.addr.to_string(),
        &server.access_key_id,
        &server.secret_access_key,
    );
    (server, c)
}

async fn create_domain(c: &Client) -> String {
    c.ok(
        "CreateDomain",
        json!({"Name": "agents", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
    )
    .await["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// StartSession → (SessionId, StreamToken).
async fn start_session(c: &Client, domain: &str, name: &str, speaker: &str) -> (String, String) {
    let s = c
        .ok(
            "StartSession",
            json!({"DomainId": domain, "SessionName": name, "SpeakerId": speaker}),
        )
        .await;
    (
        s["Session"]["SessionId"].as_str().unwrap().to_owned(),
        s["StreamToken"].as_str().unwrap().to_owned(),
    )
}

async fn mint(c: &Client, input: Value) -> Value {
    c.ok("CreateAgentToken", input).await
}

/// GET `path` → (status, content type, body).
async fn get(c: &Client, path: &str) -> (u16, String, String) {
    let r = c
        .http
        .get(format!("http://{}{path}", c.addr))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// POST /agent/actions for the session, token as a bearer header.
async fn act(c: &Client, session: &str, token: &str, body: Value) -> (u16, Value) {
    let r = c
        .http
        .post(format!(
            "http://{}/agent/actions?session={}",
            c.addr,
            session.replace('#', "%23")
        ))
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap(),
    )
}

/// An open `/agent/events` stream, parsed into (event, data) pairs.
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(c: &Client, url: &str) -> Result<Sse, u16> {
        let resp = c
            .http
            .get(format!("http://{}{url}", c.addr))
            .send()
            .await
            .unwrap();
        if resp.status().as_u16() != 200 {
            return Err(resp.status().as_u16());
        }
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Ok(Sse {
            resp,
            buf: String::new(),
        })
    }

    /// The next event, or None when the stream ends or `wait` passes.
    async fn next(&mut self, wait: Duration) -> Option<(String, String)> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.strip_prefix(' ').unwrap_or(d));
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((event, data));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

/// Streams μ-law audio into the session over the native WebSocket with its
/// StreamToken, 20 ms frames at `pace` × real time, then stops (the session ENDS).
async fn stream_speech(
    c: &Client,
    domain: &str,
    session_name: &str,
    token: &str,
    audio: &[u8],
    pace: f64,
) {
    let url = format!(
        "ws://{}/v1/sessions/{domain}/{session_name}/audio?token={token}",
        c.addr
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    ws.send(Message::Text(
        json!({"encoding": "mulaw", "sample_rate": 8000})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let started = Instant::now();
    for (i, chunk) in audio.chunks(160).enumerate() {
        ws.send(Message::Binary(chunk.to_vec().into()))
            .await
            .unwrap();
        let due = Duration::from_secs_f64((i + 1) as f64 * 0.02 / pace);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    ws.send(Message::Text(json!({"event": "stop"}).to_string().into()))
        .await
        .unwrap();
    // Wait for the server's close: the last speech is recorded by then.
    use futures_util::StreamExt;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(120), ws.next()).await {
        if matches!(m, Message::Close(_)) {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_tokens_open_only_their_own_session_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, c) = start(dir.path(), false).await;
    let domain = create_domain(&c).await;
    let (s1, _) = start_session(&c, &domain, "call-1", "cust-1").await;
    let (s2, _) = start_session(&c, &domain, "call-2", "cust-2").await;

    // Minting: by session name (or id, or contact id); one of them, valid duration.
    let t = mint(&c, json!({"DomainId": domain, "SessionNameOrId": "call-1"})).await;
    let token = t["Token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("vpat_"), "{t}");
    assert_eq!(t["SessionId"], s1.as_str());
    let url = t["Url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/agent?session=id%23"), "{url}");
    assert_eq!(t["EmbedUrl"], url.replacen("/agent?", "/agent/embed?", 1));
    let ttl = t["ExpiresAt"].as_f64().unwrap() - voiceprint_server::agent::now_seconds() as f64;
    assert!(
        (895.0..=900.0).contains(&ttl),
        "default lifetime, got {ttl}"
    );
    let by_contact = mint(&c, json!({"DomainId": domain, "ContactId": "call-2"})).await;
    assert_eq!(by_contact["SessionId"], s2.as_str());
    for bad in [
        json!({"DomainId": domain}),
        json!({"DomainId": domain, "SessionNameOrId": "call-1", "ContactId": "call-1"}),
        json!({"DomainId": domain, "SessionNameOrId": "call-1", "DurationSeconds": 0}),
        json!({"DomainId": domain, "SessionNameOrId": "call-1", "DurationSeconds": 3601}),
    ] {
        c.err("CreateAgentToken", bad, "ValidationException").await;
    }
    c.err(
        "CreateAgentToken",
        json!({"DomainId": domain, "SessionNameOrId": "no-such-call"}),
        "ResourceNotFoundException",
    )
    .await;

    // The page, the embed variant and the state open with the token.
    let (status, ct, body) = get(&c, &url).await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/html"), "{ct}");
    // The token is in the URL: no referrer, no caching; only our own script runs.
    let r = c
        .http
        .get(format!("http://{}{url}", c.addr))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let r = c
        .http
        .get(format!(
            "http://{}{}",
            c.addr,
            t["EmbedUrl"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors *"),
        "the embed variant may be framed: {csp}"
    );
    assert!(body.contains("<body class=\"full\">") && body.contains("/agent/agent.js"));
    let (status, _, body) = get(&c, t["EmbedUrl"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(body.contains("<body class=\"embed\">"));
    let (status, _, body) = get(&c, &url.replacen("/agent?", "/agent/state?", 1)).await;
    assert_eq!(status, 200, "{body}");
    let state: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["SessionId"], s1.as_str());
    assert_eq!(state["SessionName"], "call-1");
    assert_eq!(state["SpeakerId"], "cust-1");
    assert_eq!(state["NetSpeechSeconds"], 0.0);
    assert_eq!(state["StreamingStatus"], "PENDING_CONFIGURATION");
    // The event stream starts with the current state.
    let mut sse = Sse::open(&c, &url.replacen("/agent?", "/agent/events?", 1))
        .await
        .expect("events open");
    let (event, data) = sse
        .next(Duration::from_secs(10))
        .await
        .expect("a first event");
    assert_eq!(event, "state");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["SessionId"],
        s1.as_str()
    );

    // A token for call-1 does not open call-2: page, events, state, actions.
    let foreign = url.replace(&s1.replace('#', "%23"), &s2.replace('#', "%23"));
    assert_ne!(foreign, url);
    let (status, _, body) = get(&c, &foreign).await;
    assert_eq!(status, 403);
    assert!(body.contains("another call"), "{body}");
    for path in ["/agent/events?", "/agent/state?"] {
        let (status, _, body) = get(&c, &foreign.replacen("/agent?", path, 1)).await;
        assert_eq!(status, 403, "{path}");
        assert!(body.contains("AccessDeniedException"), "{body}");
    }
    let (status, v) = act(&c, &s2, &token, json!({"Action": "optOutSpeaker"})).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (403, Some("AccessDeniedException"))
    );

    // No token, a tampered token, a token of another server's key.
    let (status, _, _) = get(&c, &format!("/agent?session={}", s1.replace('#', "%23"))).await;
    assert_eq!(status, 403);
    let mut tampered = token.clone();
    tampered.pop();
    let (status, _, _) = get(&c, &url.replace(&token, &tampered)).await;
    assert_eq!(status, 403);
    let dir2 = tempfile::tempdir().unwrap();
    let (_server2, c2) = start(dir2.path(), false).await;
    let (status, _, _) = get(&c2, &url).await;
    assert_eq!(status, 403, "another server's token");

    // An open event stream ends with `expired` when its token runs out.
    let brief = mint(
        &c,
        json!({"DomainId": domain, "SessionNameOrId": s1, "DurationSeconds": 2}),
    )
    .await;
    let mut ending = Sse::open(
        &c,
        &brief["Url"]
            .as_str()
            .unwrap()
            .replacen("/agent?", "/agent/events?", 1),
    )
    .await
    .expect("events open");
    assert_eq!(
        ending.next(Duration::from_secs(5)).await.unwrap().0,
        "state"
    );
    let (event, data) = ending
        .next(Duration::from_secs(10))
        .await
        .expect("an expired event");
    assert_eq!(event, "expired", "{data}");
    assert!(
        ending.next(Duration::from_secs(3)).await.is_none(),
        "the stream ended"
    );

    // An expired token: refused everywhere.
    let short = mint(
        &c,
        json!({"DomainId": domain, "SessionNameOrId": s1, "DurationSeconds": 1}),
    )
    .await;
    let short_url = short["Url"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, body) = get(&c, short_url).await;
    assert_eq!(status, 403);
    assert!(body.contains("expired"), "{body}");
    assert_eq!(
        Sse::open(&c, &short_url.replacen("/agent?", "/agent/events?", 1))
            .await
            .err(),
        Some(403)
    );
    let (status, v) = act(
        &c,
        &s1,
        short["Token"].as_str().unwrap(),
        json!({"Action": "optOutSpeaker"}),
    )
    .await;
    assert_eq!(status, 403, "{v}");

    // Actions: bad input is a typed error, updateSpeakerId works on a plain session.
    let (status, v) = act(&c, &s1, &token, json!({"Action": "deleteEverything"})).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("ValidationException")),
        "{v}"
    );
    let (status, v) = act(&c, &s1, &token, json!({"Nope": 1})).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = act(
        &c,
        &s1,
        &token,
        json!({"Action": "updateSpeakerId", "SpeakerId": "bad speaker id!"}),
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("ValidationException")),
        "{v}"
    );
    let (status, v) = act(
        &c,
        &s1,
        &token,
        json!({"Action": "updateSpeakerId", "SpeakerId": "cust-9"}),
    )
    .await;
    assert_eq!(
        (status, v["Status"].as_str()),
        (200, Some("SUCCEEDED")),
        "{v}"
    );
    let d = c
        .ok(
            "DescribeSession",
            json!({"DomainId": domain, "SessionNameOrId": s1}),
        )
        .await;
    assert_eq!(d["Session"]["CustomerSpeakerId"], "cust-9");
    // The open event stream sees the change.
    let mut seen = None;
    while let Some((_, data)) = sse.next(Duration::from_secs(10)).await {
        let v: Value = serde_json::from_str(&data).unwrap();
        if v["SpeakerId"] == "cust-9" {
            seen = Some(v);
            break;
        }
    }
    assert!(
        seen.is_some(),
        "the event stream did not show the new speaker"
    );

    // A contact's panel acts through the contact: its flow sees the new speaker.
    let flow =
        std::fs::read_to_string(repo().join("crates/flows/tests/flows/voice-id-sample.json"))
            .unwrap()
            .replace(r#""TimeoutSeconds": "10""#, r#""TimeoutSeconds": "60""#);
    let contact = c
        .ok(
            "StartContact",
            json!({"DomainId": domain, "ContactId": "contact-1", "FlowJson": flow,
                   "Attributes": {"AccountNumber": "acct-1"}}),
        )
        .await;
    assert_eq!(contact["Contact"]["CustomerId"], "acct-1", "{contact}");
    let ct = mint(&c, json!({"DomainId": domain, "ContactId": "contact-1"})).await;
    let (status, v) = act(
        &c,
        ct["SessionId"].as_str().unwrap(),
        ct["Token"].as_str().unwrap(),
        json!({"Action": "updateSpeakerId", "SpeakerId": "acct-2"}),
    )
    .await;
    assert_eq!(
        (status, v["Status"].as_str()),
        (200, Some("SUCCEEDED")),
        "{v}"
    );
    let described = c
        .ok(
            "DescribeContact",
            json!({"DomainId": domain, "ContactId": "contact-1"}),
        )
        .await;
    assert_eq!(described["Contact"]["CustomerId"], "acct-2", "{described}");
}

/// The state events while real speech streams, and the panel's actions with their
/// effects checked through the API (no browser).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn panel_events_and_actions_follow_real_speech() {
    if let Some(r) = speech_skip_reason() {
        eprintln!("SKIP panel_events_and_actions_follow_real_speech: {r}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audio = mulaw_speech(dir.path(), VOICE, LONG_TEXT);
    let (_server, c) = start(dir.path(), true).await;
    let domain = create_domain(&c).await;
    let (sid, stream_token) = start_session(&c, &domain, "call-a", "cust-a").await;
    let t = mint(&c, json!({"DomainId": domain, "SessionNameOrId": "call-a"})).await;
    let token = t["Token"].as_str().unwrap().to_owned();
    let events_url = t["Url"]
        .as_str()
        .unwrap()
        .replacen("/agent?", "/agent/events?", 1);
    let mut sse = Sse::open(&c, &events_url).await.expect("events open");

    let streaming = {
        let (c, domain, audio) = (c.clone(), domain.clone(), audio.clone());
        tokio::spawn(async move {
            stream_speech(&c, &domain, "call-a", &stream_token, &audio, 4.0).await
        })
    };
    let mut states: Vec<Value> = Vec::new();
    let began = Instant::now();
    let deadline = began + Duration::from_secs(300);
    while Instant::now() < deadline {
        let Some((event, data)) = sse.next(Duration::from_secs(60)).await else {
            break;
        };
        assert_eq!(event, "state");
        let v: Value = serde_json::from_str(&data).unwrap();
        assert!(v["Error"].is_null(), "{v}");
        let ended = v["StreamingStatus"] == "ENDED";
        states.push(v);
        if ended {
            break;
        }
    }
    streaming.await.unwrap();
    // Reported, not asserted (speed is not a test's business).
    eprintln!(
        "{} state events over {:.1} s of streaming ({:.1} s of audio at 4x)",
        states.len(),
        began.elapsed().as_secs_f64(),
        audio.len() as f64 / 8000.0
    );
    let speech: Vec<f64> = states
        .iter()
        .map(|s| s["NetSpeechSeconds"].as_f64().unwrap())
        .collect();
    assert!(
        speech.windows(2).all(|w| w[0] <= w[1]),
        "speech never goes back: {speech:?}"
    );
    let distinct = speech.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        distinct >= 3,
        "progress rose in steps as speech arrived: {speech:?}"
    );
    let last = states.last().unwrap();
    assert_eq!(last["StreamingStatus"], "ENDED", "{last}");
    assert!(last["NetSpeechSeconds"].as_f64().unwrap() >= 30.0, "{last}");
    // Before the response time the fraud check waits for speech (an unknown
    // speaker is NotEnrolled at once); after it, the fraud decision is shown.
    let early = states
        .iter()
        .find(|s| s["NetSpeechSeconds"].as_f64().unwrap() > 0.0)
        .unwrap();
    assert!(
        early["NetSpeechSeconds"].as_f64().unwrap() < 10.0,
        "{early}"
    );
    assert_eq!(early["Fraud"]["Decision"], "NOT_ENOUGH_SPEECH", "{early}");
    assert_eq!(early["Fraud"]["Outcome"], "Inconclusive", "{early}");
    assert_eq!(
        last["Authentication"]["Decision"], "SPEAKER_NOT_ENROLLED",
        "{last}"
    );
    assert_eq!(last["Authentication"]["Outcome"], "NotEnrolled");
    assert_eq!(last["Authentication"]["Threshold"], 90);
    assert_eq!(last["Fraud"]["Outcome"], "LowRisk", "{last}");

    let state_url = t["Url"]
        .as_str()
        .unwrap()
        .replacen("/agent?", "/agent/state?", 1);
    let mut took: Vec<f64> = Vec::new();
    for _ in 0..20 {
        let at = Instant::now();
        assert_eq!(get(&c, &state_url).await.0, 200);
        took.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    eprintln!(
        "GET /agent/state (one panel poll's work): median {:.2} ms, max {:.2} ms",
        took[10], took[19]
    );

    // Enroll → the API shows the speaker enrolled; the stream shows it too.
    let (status, v) = act(&c, &sid, &token, json!({"Action": "enrollSpeaker"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Status"], "SUCCEEDED", "{v}");
    let speaker = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": domain, "SpeakerId": "cust-a"}),
        )
        .await;
    assert_eq!(speaker["Speaker"]["Status"], "ENROLLED", "{speaker}");
    let mut enrolled_seen = false;
    while let Some((_, data)) = sse.next(Duration::from_secs(10)).await {
        if serde_json::from_str::<Value>(&data).unwrap()["SpeakerStatus"] == "ENROLLED" {
            enrolled_seen = true;
            break;
        }
    }
    assert!(enrolled_seen, "the stream did not show the enrollment");

    // Evaluate again → authenticated, as EvaluateSession says.
    let (status, v) = act(&c, &sid, &token, json!({"Action": "evaluateSpeaker"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["AuthenticationDecision"], "Authenticated", "{v}");
    let e = c
        .ok(
            "EvaluateSession",
            json!({"DomainId": domain, "SessionNameOrId": sid}),
        )
        .await;
    assert_eq!(e["AuthenticationResult"]["Decision"], "ACCEPT", "{e}");

    // Changing the speaker after enrollment fails, plainly (Streams' error type).
    let (status, v) = act(
        &c,
        &sid,
        &token,
        json!({"Action": "updateSpeakerId", "SpeakerId": "someone-else"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Status"], "FAILED");
    assert_eq!(v["ErrorType"], "update_speaker_id_failed");
    assert!(
        v["Message"]
            .as_str()
            .unwrap()
            .contains("after an enrollment"),
        "{v}"
    );

    // Opt out → the API shows it.
    let (status, v) = act(&c, &sid, &token, json!({"Action": "optOutSpeaker"})).await;
    assert_eq!(
        (status, v["Status"].as_str()),
        (200, Some("SUCCEEDED")),
        "{v}"
    );
    let speaker = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": domain, "SpeakerId": "cust-a"}),
        )
        .await;
    assert_eq!(speaker["Speaker"]["Status"], "OPTED_OUT", "{speaker}");
}

/// The page in headless Chromium while speech streams in (tests/agent-ui/drive.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_page_in_headless_chromium() {
    if let Some(r) = browser_skip_reason() {
        eprintln!("SKIP agent_page_in_headless_chromium: {r}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audio = mulaw_speech(dir.path(), VOICE, LONG_TEXT);
    let (_server, c) = start(dir.path(), true).await;
    let domain = create_domain(&c).await;
    let (sid, stream_token) = start_session(&c, &domain, "call-b", "cust-b").await;
    let (_other, _) = start_session(&c, &domain, "call-other", "cust-x").await;
    let t = mint(&c, json!({"DomainId": domain, "SessionNameOrId": "call-b"})).await;
    let other = mint(
        &c,
        json!({"DomainId": domain, "SessionNameOrId": "call-other"}),
    )
    .await;
    let url = t["Url"].as_str().unwrap().to_owned();
    // call-b's session with call-other's token.
    let foreign = format!(
        "/agent?session={}&token={}",
        sid.replace('#', "%23"),
        other["Token"].as_str().unwrap()
    );
    let short = mint(
        &c,
        json!({"DomainId": domain, "SessionNameOrId": "call-b", "DurationSeconds": 1}),
    )
    .await;
    let shots = screenshots_dir();
    let cfg = json!({
        "base": format!("http://{}", c.addr),
        "page": url,
        "embed": t["EmbedUrl"],
        "foreign": foreign,
        "expired": short["Url"],
        "shots": shots,
        "chromium": chromium(),
    });
    let mut child = Command::new("node")
        .arg(repo().join("tests/agent-ui/drive.mjs"))
        .arg(cfg.to_string())
        .current_dir(repo().join("tests/agent-ui"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut steps: Vec<(String, Value)> = Vec::new();
    let mut streaming = None;
    loop {
        let line = tokio::time::timeout(Duration::from_secs(400), rx.recv())
            .await
            .expect("the browser driver went quiet")
            .expect("the browser driver ended without `done`");
        if let Some(fail) = line.strip_prefix("FAIL ") {
            let _ = child.kill();
            panic!("browser: {fail}\nsteps so far: {steps:?}");
        }
        let Some(rest) = line.strip_prefix("STEP ") else {
            continue;
        };
        let (name, data) = rest.split_once(' ').unwrap_or((rest, "{}"));
        let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        eprintln!("browser step {name}: {data}");
        steps.push((name.to_owned(), data.clone()));
        let mut go = false;
        match name {
            "ready" => {
                // The page is open and waiting: the caller starts talking.
                let (c, domain, audio, token) = (
                    c.clone(),
                    domain.clone(),
                    audio.clone(),
                    stream_token.clone(),
                );
                streaming = Some(tokio::spawn(async move {
                    stream_speech(&c, &domain, "call-b", &token, &audio, 2.0).await
                }));
            }
            "decision" => {
                let (a, b) = (
                    data["first"].as_f64().unwrap(),
                    data["second"].as_f64().unwrap(),
                );
                assert!(b > a && a > 0.0, "authentication progress rose: {data}");
            }
            "enrolled" => {
                if let Some(s) = streaming.take() {
                    s.await.unwrap();
                }
                let s = c
                    .ok(
                        "DescribeSpeaker",
                        json!({"DomainId": domain, "SpeakerId": "cust-b"}),
                    )
                    .await;
                assert_eq!(s["Speaker"]["Status"], "ENROLLED", "{s}");
                go = true;
            }
            "evaluated" => {
                let e = c
                    .ok(
                        "EvaluateSession",
                        json!({"DomainId": domain, "SessionNameOrId": sid}),
                    )
                    .await;
                assert_eq!(e["AuthenticationResult"]["Decision"], "ACCEPT", "{e}");
                assert_eq!(data["decision"], "Authenticated");
                go = true;
            }
            "update-refused" => {
                let err = data["error"].as_str().unwrap();
                assert!(err.starts_with("Update speaker ID failed"), "{err}");
                assert!(err.contains("after an enrollment"), "{err}");
            }
            "opted-out" => {
                let s = c
                    .ok(
                        "DescribeSpeaker",
                        json!({"DomainId": domain, "SpeakerId": "cust-b"}),
                    )
                    .await;
                assert_eq!(s["Speaker"]["Status"], "OPTED_OUT", "{s}");
                go = true;
            }
            "refused" => {
                for which in ["foreign", "expired"] {
                    assert_eq!(data[which]["page"], 403, "{which}: {data}");
                    assert_eq!(data[which]["events"], 403, "{which}: {data}");
                }
                assert!(data["foreign"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("another call"));
                assert!(data["expired"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("expired"));
            }
            "done" => break,
            _ => {}
        }
        if go {
            writeln!(stdin, "go").unwrap();
            stdin.flush().unwrap();
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "node exited with {status}");
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ready",
            "decision",
            "enough-speech",
            "enrolled",
            "evaluated",
            "update-refused",
            "opted-out",
            "refused",
            "done"
        ]
    );
    for shot in [
        "01-waiting-for-speech",
        "03-not-enrolled",
        "05-enrolled",
        "06-authenticated",
        "08-opted-out",
        "09-embed",
        "10-refused-foreign",
    ] {
        let p = shots.join(format!("{shot}.png"));
        assert!(
            std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000),
            "screenshot {}",
            p.display()
        );
    }
    eprintln!("screenshots in {}", shots.display());
}
