//! Telephony ingresses end to end (issue 11): a real server on port 0 with the
//! real CAM++ model and SQLite store; customer-a enrolled from real speech
//! (espeak-ng `en-us+m3` through sox as 8 kHz G.711), then calls over
//! - Asterisk AudioSocket (a TCP client written here from the protocol),
//! - Genesys AudioHook (a WebSocket client written here from the v2 protocol:
//!   open/opened, stereo PCMU with the agent on the internal channel, ping/pong,
//!   events, close/closed),
//! - SIPREC: SIPp (Debian `sip-tester`) as the recording client, playing RTP
//!   from a pcap made here from the speech; plus a hand-written SIP client over
//!   UDP/TCP for the RTP timeout and OPTIONS,
//!
//! each ACCEPTing the enrolled speaker and REJECTing an impostor (`en-us+f4`),
//! with malformed frames, wrong API keys and abrupt disconnects in between.
//! Skips with a message when the weights, espeak-ng or sox are missing; the
//! SIPp part skips alone when `sipp` is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::Client;

const VOICE_A: &str = "en-us+m3";
const VOICE_B: &str = "en-us+f4";
const API_KEY: &str = "audiohook-test-key-0123456789";

const LONG_TEXT: &str = "The quick brown fox jumps over the lazy dog while the farmer counts his sheep in the early morning light. \
My account number is four five six seven, and I would like to check the balance on my savings account please. \
I have been a customer of this bank for more than ten years and I always pay my bills on time. \
Yesterday I tried to transfer some money to my sister but the transaction did not go through, so I am calling to find out what happened. \
Could you also tell me when my new card will arrive in the mail? I moved to a new address last month, on the corner of Maple Street and Seventh Avenue, right next to the old library. \
The weather has been terrible lately and the roads near my house are flooded, which is why I could not come to the branch in person.";

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

fn have(binary: &str, arg: &str) -> bool {
    Command::new(binary)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
}

fn skip_reason() -> Option<String> {
    if models_dir().is_none() {
        return Some("CAM++ weights not found (run scripts/fetch-models.sh)".into());
    }
    for b in ["espeak-ng", "sox"] {
        if !have(b, "--version") {
            return Some(format!("{b} is not installed"));
        }
    }
    None
}

/// `text` spoken by `voice`, headerless 8 kHz mono in the sox encoding given
/// (`["-e", "u-law", "-b", "8"]` or `["-e", "signed", "-b", "16"]`).
fn speech(dir: &Path, voice: &str, text: &str, encoding: &[&str], ext: &str) -> Vec<u8> {
    let wav = dir.join(format!("{voice}-{}.wav", text.len()));
    let raw = dir.join(format!("{voice}-{}.{ext}", text.len()));
    if !wav.exists() {
        let ok = Command::new("espeak-ng")
            .args(["-v", voice, "-s", "160", "-w"])
            .arg(&wav)
            .arg(text)
            .status()
            .unwrap()
            .success();
        assert!(ok, "espeak-ng failed for {voice}");
    }
    let ok = Command::new("sox")
        .arg("-q")
        .arg(&wav)
        .args(["-t", "raw", "-r", "8000", "-c", "1"])
        .args(encoding)
        .arg(&raw)
        .status()
        .unwrap()
        .success();
    assert!(ok, "sox failed for {voice}");
    std::fs::read(&raw).unwrap()
}

fn mulaw(dir: &Path, voice: &str, text: &str) -> Vec<u8> {
    speech(dir, voice, text, &["-e", "u-law", "-b", "8"], "ulaw")
}

fn pcm16(dir: &Path, voice: &str, text: &str) -> Vec<u8> {
    speech(dir, voice, text, &["-e", "signed", "-b", "16", "-L"], "s16")
}

async fn evaluate(c: &Client, domain: &str, session: &str) -> Value {
    c.ok(
        "EvaluateSession",
        json!({"DomainId": domain, "SessionNameOrId": session}),
    )
    .await
}

/// Waits until the session is ENDED (the ingress finished it).
async fn wait_ended(c: &Client, domain: &str, session: &str, within: Duration) -> Value {
    let until = Instant::now() + within;
    loop {
        let (status, v) = c
            .call(
                "DescribeSession",
                json!({"DomainId": domain, "SessionNameOrId": session}),
            )
            .await;
        if status == 200 && v["Session"]["StreamingStatus"] == "ENDED" {
            return v;
        }
        assert!(Instant::now() < until, "{session} did not end: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_session(c: &Client, domain: &str, name: &str, speaker: Option<&str>) {
    let mut req = json!({"DomainId": domain, "SessionName": name,
        "StreamingConfiguration": {"AuthenticationMinimumSpeechInSeconds": 5}});
    if let Some(s) = speaker {
        req["SpeakerId"] = json!(s);
    }
    c.ok("StartSession", req).await;
}

fn decision(result: &Value) -> &str {
    result["AuthenticationResult"]["Decision"]
        .as_str()
        .unwrap_or("-")
}

// ---------------------------------------------------------------- AudioSocket

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn uuid_bytes(n: u8) -> ([u8; 16], String) {
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(17) ^ n;
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let s = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    (b, s)
}

/// Streams a whole call as Asterisk does (UUID, 20 ms audio frames, hangup),
/// faster than real time, writing frames in uneven chunks so they split.
async fn audiosocket_call(addr: std::net::SocketAddr, uuid: [u8; 16], pcm: &[u8]) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut wire = frame(0x01, &uuid);
    for chunk in pcm.chunks(320) {
        let even = &chunk[..chunk.len() & !1];
        wire.extend(frame(0x10, even));
    }
    wire.extend(frame(0x00, &[]));
    for piece in wire.chunks(1000) {
        conn.write_all(piece).await.unwrap();
    }
    // The server closes after the hangup.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), conn.read_to_end(&mut rest)).await;
}

// ---------------------------------------------------------------- AudioHook

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn audiohook_connect(addr: &str, key: Option<&str>) -> Result<Ws, String> {
    let mut req = format!("ws://{addr}/v1/audiohook")
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    if let Some(k) = key {
        h.insert("x-api-key", k.parse().unwrap());
    }
    h.insert(
        "audiohook-organization-id",
        "d7934305-0972-4844-938e-9060eef73d05".parse().unwrap(),
    );
    h.insert(
        "audiohook-session-id",
        "e160e428-53e2-487c-977d-96989bf5c99d".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

/// The client side of one AudioHook session (Genesys Cloud's role).
struct HookClient {
    ws: Ws,
    seq: u64,
    serverseq: u64,
    samples: u64,
    /// Server messages seen, in order.
    received: Vec<Value>,
}

impl HookClient {
    async fn send(&mut self, kind: &str, parameters: Value) {
        self.seq += 1;
        let m = json!({"version": "2", "type": kind, "seq": self.seq, "serverseq": self.serverseq,
            "id": "e160e428-53e2-487c-977d-96989bf5c99d",
            "position": format!("PT{:.3}S", self.samples as f64 / 8000.0), "parameters": parameters});
        self.ws
            .send(Message::Text(m.to_string().into()))
            .await
            .unwrap();
    }

    fn note(&mut self, v: Value) {
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(seq, self.serverseq + 1, "server seq in order: {v}");
        assert!(v["clientseq"].as_u64().unwrap() <= self.seq);
        self.serverseq = seq;
        self.received.push(v);
    }

    /// Reads server messages until one of `kind` (or the close).
    async fn until(&mut self, kind: &str) -> Option<Value> {
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(Duration::from_secs(60), self.ws.next()).await
        {
            match m {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    self.note(v.clone());
                    if v["type"] == kind {
                        return Some(v);
                    }
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    }

    /// Collects what the server sent meanwhile, without waiting.
    async fn poll(&mut self) {
        while let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(0), self.ws.next()).await
        {
            self.note(serde_json::from_str(t.as_str()).unwrap());
        }
    }
}

fn open_parameters(conversation: &str, customer: &str) -> Value {
    json!({
        "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
        "conversationId": conversation,
        "participant": {"id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0", "ani": "+1-555-555-1234", "aniName": "John Doe", "dnis": "+1-800-555-6789"},
        "media": [
            {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000},
            {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}
        ],
        "language": "en-US",
        "inputVariables": {"CustomerId": customer}
    })
}

/// One AudioHook conversation: the customer on `external`, the agent on
/// `internal` (interleaved stereo PCMU), pings along the way, then close.
async fn audiohook_call(
    addr: &str,
    conversation: &str,
    customer: &str,
    external: &[u8],
    internal: &[u8],
) -> HookClient {
    let ws = audiohook_connect(addr, Some(API_KEY))
        .await
        .expect("upgrade");
    let mut c = HookClient {
        ws,
        seq: 0,
        serverseq: 0,
        samples: 0,
        received: Vec::new(),
    };
    c.send("open", open_parameters(conversation, customer))
        .await;
    let opened = c.until("opened").await.expect("opened");
    assert_eq!(
        opened["parameters"]["media"][0]["format"], "PCMU",
        "{opened}"
    );
    assert_eq!(
        opened["parameters"]["media"][0]["channels"],
        json!(["external", "internal"])
    );
    assert_eq!(opened["clientseq"], 1);
    for (i, chunk) in external.chunks(160).enumerate() {
        let mut stereo = Vec::with_capacity(chunk.len() * 2);
        for (j, s) in chunk.iter().enumerate() {
            stereo.push(*s);
            stereo.push(internal.get(i * 160 + j).copied().unwrap_or(0xFF));
        }
        c.ws.send(Message::Binary(stereo.into())).await.unwrap();
        c.samples += chunk.len() as u64;
        if i % 100 == 50 {
            c.send("ping", json!({})).await;
        }
        c.poll().await;
    }
    c.send("close", json!({"reason": "end"})).await;
    c.until("closed").await.expect("closed");
    c
}

// ---------------------------------------------------------------- SIPREC

/// A pcap (Ethernet/IPv4/UDP/RTP, 20 ms apart) of μ-law `audio`, as SIPp's
/// play_pcap_audio reads it.
fn write_pcap(path: &Path, audio: &[u8]) {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32.to_le_bytes(), [2, 0, 4, 0]] {
        out.extend_from_slice(&v);
    }
    out.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for (i, chunk) in audio.chunks(160).enumerate() {
        let rtp = voiceprint_telephony::rtp::encode(0, i as u16, (i * 160) as u32, 0x5eed, chunk);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
        ];
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend(ip);
        p.extend_from_slice(&6000u16.to_be_bytes());
        p.extend_from_slice(&7000u16.to_be_bytes());
        p.extend_from_slice(&(udp_len as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend(rtp);
        let t_us = i as u64 * 20_000;
        out.extend_from_slice(&((t_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend(p);
    }
    std::fs::write(path, out).unwrap();
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the SIPp SIPREC client scenario once: Call-ID `<call_id>-1`; SIP over
/// `transport` (`u1` UDP, `t1` TCP).
fn sipp_call(
    dir: &Path,
    sip: std::net::SocketAddr,
    transport: &str,
    call_id: &str,
    customer: &str,
    audio: &[u8],
) {
    let pcap = dir.join(format!("{call_id}.pcap"));
    write_pcap(&pcap, audio);
    let play_ms = audio.len() / 8 + 500;
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/siprec_uac.xml"),
    )
    .unwrap()
    .replace("@CUSTOMER@", customer)
    .replace("@PCAP@", pcap.to_str().unwrap())
    .replace("@HALF_MS@", &(play_ms / 2).to_string());
    let sf = dir.join(format!("{call_id}.xml"));
    std::fs::write(&sf, scenario).unwrap();
    let out = Command::new("sipp")
        .arg(sip.to_string())
        .arg("-sf")
        .arg(&sf)
        .args(["-m", "1", "-l", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-cid_str", &format!("{call_id}-%u"), "-t", transport])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-mp", &(free_udp_port() & !1).to_string()])
        .args([
            "-timeout",
            "90s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sipp failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let errors: String = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(errors.trim().is_empty(), "sipp errors: {errors}");
}

/// A SIP request written by hand (the RTP-timeout call needs no RTP at all).
fn sip_request(
    method: &str,
    call_id: &str,
    cseq: u32,
    local: std::net::SocketAddr,
    body: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut m = format!(
        "{method} sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}-{cseq}\r\n\
From: <sip:src@127.0.0.1>;tag=t1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
    );
    if method == "INVITE" {
        m.push_str("Require: siprec\r\n");
    }
    match body {
        Some((ct, b)) => m.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => m.push_str("Content-Length: 0\r\n\r\n"),
    }
    m.into_bytes()
}

fn status_code(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .strip_prefix("SIP/2.0 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn udp_exchange(
    sock: &tokio::net::UdpSocket,
    to: std::net::SocketAddr,
    req: &[u8],
    final_code_min: u16,
) -> Vec<u8> {
    sock.send_to(req, to).await.unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .expect("a SIP response")
            .unwrap();
        if status_code(&buf[..n]) >= final_code_min {
            return buf[..n].to_vec();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn telephony_ingresses_accept_the_enrolled_caller_and_reject_an_impostor() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audio_dir = dir.path().join("audio");
    std::fs::create_dir_all(&audio_dir).unwrap();
    let a_long = mulaw(&audio_dir, VOICE_A, LONG_TEXT);
    let a_short = mulaw(&audio_dir, VOICE_A, SHORT_TEXT);
    let b_short = mulaw(&audio_dir, VOICE_B, SHORT_TEXT);
    let a_pcm = pcm16(&audio_dir, VOICE_A, SHORT_TEXT);
    let b_pcm = pcm16(&audio_dir, VOICE_B, SHORT_TEXT);

    // The listeners need their domain in the configuration: create it in the
    // data directory first (as `voiceprint admin seed-speakers` does).
    let data = dir.path().join("data");
    let domain = voiceprint_server::seed_speakers(voiceprint_server::SeedArgs {
        config: None,
        data_dir: Some(data.clone()),
        domain: None,
        count: 0,
        batch: 1,
    })
    .unwrap();
    let set = |k: &str, v: &str| (format!("VOICEPRINT__{k}"), v.to_string());
    let env = vec![
        set(
            "ENGINE__MODELS_DIR",
            &models_dir().unwrap().display().to_string(),
        ),
        set("ENGINE__WORKERS", "2"),
        set("AUDIOSOCKET__LISTEN", "127.0.0.1:0"),
        set("AUDIOSOCKET__DOMAIN_ID", &domain),
        set("AUDIOHOOK__ENABLED", "true"),
        set("AUDIOHOOK__DOMAIN_ID", &domain),
        set("AUDIOHOOK__API_KEYS", &format!("[\"{API_KEY}\"]")),
        set("AUDIOHOOK__CUSTOMER_ID_FROM", "input:CustomerId"),
        set("SIPREC__LISTEN", "127.0.0.1:0"),
        set("SIPREC__DOMAIN_ID", &domain),
        set("SIPREC__RTP_TIMEOUT_SECONDS", "2"),
    ];
    let server = voiceprint_server::start(common::test_config(&data, env))
        .await
        .expect("server starts");
    let c = Client::new(
        server.addr.to_string(),
        &server.access_key_id,
        &server.secret_access_key,
    );
    let audiosocket = server.telephony.audiosocket.expect("AudioSocket listening");
    let sip = server.telephony.siprec.expect("SIPREC listening");

    // --- enrollment: customer-a from one recording over HTTP POST ---
    c.ok(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "enroll-a", "SpeakerId": "customer-a"}),
    )
    .await;
    c.ok(
        "EnrollBySession",
        json!({"DomainId": domain, "SessionNameOrId": "enroll-a"}),
    )
    .await;
    common::post_audio(
        &c,
        &domain,
        "enroll-a",
        "encoding=mulaw&sample_rate=8000",
        &a_long,
    )
    .await;
    let speaker = c
        .ok(
            "DescribeSpeaker",
            json!({"DomainId": domain, "SpeakerId": "customer-a"}),
        )
        .await;
    assert_eq!(speaker["Speaker"]["Status"], "ENROLLED", "{speaker}");

    // --- AudioSocket ---
    // A malformed frame (odd-length audio) closes that connection only.
    let (u_bad, _) = uuid_bytes(1);
    let mut bad = tokio::net::TcpStream::connect(audiosocket).await.unwrap();
    bad.write_all(&frame(0x01, &u_bad[..5])).await.unwrap();
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), bad.read_to_end(&mut sink)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "server closes on a malformed frame: {closed:?}"
    );
    // Audio before the UUID, likewise.
    let mut early = tokio::net::TcpStream::connect(audiosocket).await.unwrap();
    early.write_all(&frame(0x10, &[0; 320])).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), early.read_to_end(&mut sink)).await;
    assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
    // An abrupt disconnect mid-call ENDS that session; its speech counts.
    let (u_cut, cut_name) = uuid_bytes(2);
    start_session(&c, &domain, &cut_name, Some("customer-a")).await;
    {
        let mut cut = tokio::net::TcpStream::connect(audiosocket).await.unwrap();
        let mut wire = frame(0x01, &u_cut);
        for chunk in a_pcm[..a_pcm.len() / 2].chunks(320) {
            wire.extend(frame(0x10, chunk));
        }
        cut.write_all(&wire).await.unwrap();
    } // dropped: no hangup frame
    let ended = wait_ended(&c, &domain, &cut_name, Duration::from_secs(60)).await;
    assert_eq!(ended["Session"]["StreamingStatus"], "ENDED");
    // The enrolled caller, then an impostor claiming the same customer.
    let (u_a, a_name) = uuid_bytes(3);
    start_session(&c, &domain, &a_name, Some("customer-a")).await;
    audiosocket_call(audiosocket, u_a, &a_pcm).await;
    wait_ended(&c, &domain, &a_name, Duration::from_secs(60)).await;
    let result = evaluate(&c, &domain, &a_name).await;
    assert_eq!(
        decision(&result),
        "ACCEPT",
        "AudioSocket caller A: {result}"
    );
    assert_eq!(
        result["AuthenticationResult"]["CustomerSpeakerId"],
        "customer-a"
    );
    let (u_b, b_name) = uuid_bytes(4);
    start_session(&c, &domain, &b_name, Some("customer-a")).await;
    audiosocket_call(audiosocket, u_b, &b_pcm).await;
    wait_ended(&c, &domain, &b_name, Duration::from_secs(60)).await;
    let result = evaluate(&c, &domain, &b_name).await;
    assert_eq!(
        decision(&result),
        "REJECT",
        "AudioSocket impostor B: {result}"
    );

    // --- AudioHook ---
    for key in [None, Some("wrong-key")] {
        let refused = audiohook_connect(&c.addr, key).await.unwrap_err();
        assert!(refused.contains("401"), "{key:?}: {refused}");
    }
    // Audio before open is a protocol error: disconnect, then close.
    let ws = audiohook_connect(&c.addr, Some(API_KEY)).await.unwrap();
    let mut early = HookClient {
        ws,
        seq: 0,
        serverseq: 0,
        samples: 0,
        received: Vec::new(),
    };
    early
        .ws
        .send(Message::Binary(vec![0xFF; 320].into()))
        .await
        .unwrap();
    let disconnect = early.until("disconnect").await.expect("disconnect");
    assert_eq!(disconnect["parameters"]["reason"], "error", "{disconnect}");
    // Customer A on the external channel, agent (voice B) on internal: the
    // customer's voice decides.
    let conv_a = "090eaa2f-72fa-480a-83e0-8667ff89c0ec";
    start_session(&c, &domain, conv_a, None).await;
    let hook = audiohook_call(&c.addr, conv_a, "customer-a", &a_short, &b_short).await;
    let types: Vec<&str> = hook
        .received
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"pong"), "{types:?}");
    let events: Vec<&Value> = hook
        .received
        .iter()
        .filter(|m| m["type"] == "event")
        .collect();
    assert!(
        events.len() >= 2,
        "decision events (response time + final): {types:?}"
    );
    let entity = &events.last().unwrap()["parameters"]["entities"][0];
    assert_eq!(entity["type"], "voiceprint_evaluation");
    assert_eq!(
        entity["data"]["AuthenticationResult"]["Decision"], "ACCEPT",
        "{entity}"
    );
    let closed = hook.received.last().unwrap();
    assert_eq!(closed["type"], "closed");
    assert_eq!(
        closed["parameters"]["outputVariables"]["VoiceprintDecision"],
        "ACCEPT"
    );
    let result = evaluate(&c, &domain, conv_a).await;
    assert_eq!(
        decision(&result),
        "ACCEPT",
        "AudioHook customer A: {result}"
    );
    assert_eq!(
        result["AuthenticationResult"]["CustomerSpeakerId"],
        "customer-a"
    );
    assert_eq!(result["StreamingStatus"], "ENDED");
    // The impostor on external, customer A's voice only as the agent.
    let conv_b = "7c1ab0c4-18b2-4a0e-9a3b-5f6d2e9c0d11";
    start_session(&c, &domain, conv_b, None).await;
    let hook = audiohook_call(&c.addr, conv_b, "customer-a", &b_short, &a_short).await;
    let closed = hook.received.last().unwrap();
    assert_eq!(
        closed["parameters"]["outputVariables"]["VoiceprintDecision"], "REJECT",
        "{closed}"
    );

    // An abrupt disconnect mid-conversation (no close): the session ENDS and the
    // speech heard so far decides it.
    let conv_cut = "5b0b7f3e-2a51-4c6d-8e9f-0a1b2c3d4e5f";
    start_session(&c, &domain, conv_cut, None).await;
    {
        let ws = audiohook_connect(&c.addr, Some(API_KEY)).await.unwrap();
        let mut cut = HookClient {
            ws,
            seq: 0,
            serverseq: 0,
            samples: 0,
            received: Vec::new(),
        };
        cut.send("open", open_parameters(conv_cut, "customer-a"))
            .await;
        cut.until("opened").await.expect("opened");
        for chunk in a_short[..a_short.len() * 3 / 4].chunks(160) {
            let stereo: Vec<u8> = chunk.iter().flat_map(|s| [*s, 0xFF]).collect();
            cut.ws.send(Message::Binary(stereo.into())).await.unwrap();
        }
    } // dropped: no close message, no close frame
    wait_ended(&c, &domain, conv_cut, Duration::from_secs(60)).await;
    let result = evaluate(&c, &domain, conv_cut).await;
    assert_eq!(decision(&result), "ACCEPT", "AudioHook cut off: {result}");

    // --- SIPREC ---
    // Hand-written client: OPTIONS over TCP, an INVITE whose RTP never comes.
    let mut tcp = tokio::net::TcpStream::connect(sip).await.unwrap();
    let local = tcp.local_addr().unwrap();
    tcp.write_all(&sip_request("OPTIONS", "opt-1", 1, local, None))
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status_code(&buf[..n]),
        200,
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = udp.local_addr().unwrap();
    let sdp = "v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n";
    let ok = udp_exchange(
        &udp,
        sip,
        &sip_request(
            "INVITE",
            "siprec-timeout-1",
            1,
            local,
            Some(("application/sdp", sdp)),
        ),
        200,
    )
    .await;
    assert_eq!(status_code(&ok), 200, "{}", String::from_utf8_lossy(&ok));
    assert!(String::from_utf8_lossy(&ok).contains("a=recvonly"));
    udp.send_to(&sip_request("ACK", "siprec-timeout-1", 1, local, None), sip)
        .await
        .unwrap();
    let started = Instant::now();
    wait_ended(&c, &domain, "siprec-timeout-1", Duration::from_secs(20)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "ended by the RTP timeout, not at once"
    );
    let bye = udp_exchange(
        &udp,
        sip,
        &sip_request("BYE", "siprec-timeout-1", 2, local, None),
        200,
    )
    .await;
    assert_eq!(
        status_code(&bye),
        481,
        "the dialog ended with the RTP timeout"
    );
    if !have("sipp", "-v") {
        eprintln!("skipping the SIPp part: sipp is not installed (apt-get install sip-tester)");
        server.stop().await.unwrap();
        return;
    }
    // SIPp as the recording client: metadata names sip:customer-a@example.com as
    // the caller; voiceprint takes the customer from it and hears label 1 only.
    start_session(&c, &domain, "siprec-a-1", None).await;
    start_session(&c, &domain, "siprec-b-1", None).await;
    let sipp_dir = dir.path().join("sipp");
    std::fs::create_dir_all(&sipp_dir).unwrap();
    let (d1, d2) = (sipp_dir.clone(), sipp_dir.clone());
    let (a, b) = (a_short.clone(), b_short.clone());
    // Both calls at once (two SIPp processes), signalling over UDP and TCP.
    let call_a = tokio::task::spawn_blocking(move || {
        sipp_call(&d1, sip, "u1", "siprec-a", "customer-a", &a)
    });
    let call_b = tokio::task::spawn_blocking(move || {
        sipp_call(&d2, sip, "t1", "siprec-b", "customer-a", &b)
    });
    call_a.await.unwrap();
    call_b.await.unwrap();
    wait_ended(&c, &domain, "siprec-a-1", Duration::from_secs(30)).await;
    let result = evaluate(&c, &domain, "siprec-a-1").await;
    assert_eq!(decision(&result), "ACCEPT", "SIPREC caller A: {result}");
    assert_eq!(
        result["AuthenticationResult"]["CustomerSpeakerId"],
        "customer-a"
    );
    wait_ended(&c, &domain, "siprec-b-1", Duration::from_secs(30)).await;
    let result = evaluate(&c, &domain, "siprec-b-1").await;
    assert_eq!(decision(&result), "REJECT", "SIPREC impostor B: {result}");
    server.stop().await.unwrap();
}
