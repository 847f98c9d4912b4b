//! Load benchmark for live call sessions: N simulated calls stream 8 kHz μ-law
//! speech at real-time pace over loopback WebSockets (the native protocol) into an
//! in-process server with the real CAM++ model and SQLite store.
//!
//! Per call: the decision latency = time from sending the audio frame that brings
//! the net speech to the response time (found by running the same front end and
//! segmenting, `LiveAudio`, over the same frames) to receiving the server's
//! `evaluation` event with a decided AuthenticationResult. Reports p50/p99 latency
//! per N, and the process CPU (server + these clients) per call-second of audio,
//! hence calls per core at real time. Increases N until p99 > 300 ms or `--max`.
//!
//! `cargo run --release -p voiceprint-server --example callgen -- [--start 4] [--max 256] [--response-time 5]`
//! Needs models/ (scripts/fetch-models.sh), espeak-ng and sox.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use voiceprint_audio::{RawEncoding, RawFormat};
use voiceprint_voiceid::sessions::live::LiveAudio;
use voiceprint_voiceid::sessions::SessionLimits;

const TEXT: &str = "Hello, I am calling about a payment that I made last week. The amount was two hundred and fifteen dollars \
and it was sent to the electric company. Please let me know if there is anything else you need from me today.";
const FRAME_BYTES: usize = 160; // 20 ms of 8 kHz μ-law

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn speech(dir: &Path, voice: &str) -> Option<Vec<u8>> {
    let wav = dir.join(format!("{voice}.wav"));
    let raw = dir.join(format!("{voice}.ulaw"));
    Command::new("espeak-ng")
        .args(["-v", voice, "-s", "160", "-w"])
        .arg(&wav)
        .arg(TEXT)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    Command::new("sox")
        .arg("-q")
        .arg(&wav)
        .args(["-t", "raw", "-r", "8000", "-e", "u-law", "-b", "8", "-c", "1"])
        .arg(&raw)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    std::fs::read(raw).ok()
}

/// Index of the frame after which the server's segmented speech reaches `seconds`.
fn crossing_frame(audio: &[u8], seconds: f64) -> Option<usize> {
    let limits = SessionLimits::default();
    let format = RawFormat {
        encoding: RawEncoding::Mulaw,
        sample_rate: 8000,
        channels: 1,
    };
    let mut live = LiveAudio::new(
        format,
        0,
        limits.max_audio_seconds,
        limits.segment_seconds,
        limits.max_embedded_speech_seconds,
    )
    .ok()?;
    live.set_milestones(vec![seconds, 30.0]);
    let mut total = 0.0;
    for (i, frame) in audio.chunks(FRAME_BYTES).enumerate() {
        for s in live.push(frame).ok()? {
            total += s.new_speech_seconds;
        }
        if total >= seconds {
            return Some(i);
        }
    }
    None
}

/// utime + stime of this process, seconds.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (1-based) are the 12th and 13th after the ")".
    (ticks(11) + ticks(12)) / 100.0
}

async fn call(addr: String, domain: String, name: String, audio: Vec<u8>, crossing: usize) -> Option<f64> {
    let url = format!("ws://{addr}/v1/sessions/{domain}/{name}/audio");
    let name = name.clone();
    let (ws, _) = match tokio_tungstenite::connect_async(url).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("{name}: connect failed: {e}");
            return None;
        }
    };
    let (mut tx, mut rx) = ws.split();
    let format = json!({"encoding": "mulaw", "sample_rate": 8000, "speaker_id": "caller-a"});
    tx.send(Message::Text(format.to_string().into())).await.ok()?;
    let crossing_sent = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let sent = crossing_sent.clone();
    let sender = tokio::spawn(async move {
        let start = Instant::now();
        for (i, frame) in audio.chunks(FRAME_BYTES).enumerate() {
            tx.send(Message::Binary(frame.to_vec().into())).await.ok()?;
            if i == crossing {
                *sent.lock().unwrap() = Some(Instant::now());
            }
            let due = Duration::from_millis(20 * (i as u64 + 1));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        tx.send(Message::Text(json!({"event": "stop"}).to_string().into())).await.ok()?;
        Some(())
    });
    let mut latency = None;
    while let Some(Ok(msg)) = rx.next().await {
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
            if std::env::var_os("CALLGEN_DEBUG").is_some() {
                eprintln!("{name}: {v}");
            }
            if latency.is_none() && v["event"] == "evaluation" {
                let decided = matches!(
                    v["AuthenticationResult"]["Decision"].as_str(),
                    Some("ACCEPT") | Some("REJECT")
                );
                if let (true, Some(at)) = (decided, *crossing_sent.lock().unwrap()) {
                    latency = Some(at.elapsed().as_secs_f64());
                }
            }
        }
    }
    let _ = sender.await;
    latency
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let models: PathBuf = repo.join("models");
    if !models.join("campplus/campplus_cn_en_common.pt").is_file() {
        eprintln!("skipping: models/ not fetched (scripts/fetch-models.sh)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(audio) = speech(tmp.path(), "en-us+m3") else {
        eprintln!("skipping: espeak-ng or sox missing");
        return;
    };
    let response_time = arg("--response-time", 5.0);
    let Some(crossing) = crossing_frame(&audio, response_time) else {
        eprintln!("the test audio holds less than {response_time} s of speech");
        return;
    };
    let flags = voiceprint_server::config::FlagOverrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(tmp.path().join("data")),
        no_auth: true,
        database_url: None,
    };
    let env = vec![(
        "VOICEPRINT__ENGINE__MODELS_DIR".to_string(),
        models.display().to_string(),
    )];
    let config = voiceprint_server::config::Config::load(None, env, &flags).expect("config");
    let server = voiceprint_server::start(config).await.expect("server");
    let addr = server.addr.to_string();
    let http = reqwest::Client::new();
    let api = |target: &'static str, body: Value| {
        http.post(format!("http://{addr}/"))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("VoiceID.{target}"))
            .body(body.to_string())
            .send()
    };
    let d: Value = api(
        "CreateDomain",
        json!({"Name": "load", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let domain = d["Domain"]["DomainId"].as_str().unwrap().to_owned();
    // Enroll caller-a (the voice every call uses) so decisions are ACCEPT/REJECT.
    let voiceprint = server
        .service
        .biometrics()
        .unwrap()
        .embed_recording(
            &audio,
            &voiceprint_audio::DecodeOptions {
                channel_index: 0,
                max_seconds: 600.0,
                raw: Some(RawFormat {
                    encoding: RawEncoding::Mulaw,
                    sample_rate: 8000,
                    channels: 1,
                }),
            },
        )
        .unwrap();
    let vp = server.service.biometrics().unwrap().voiceprint(&[voiceprint]).unwrap();
    server
        .service
        .admin_put_speakers(&domain, vec![("caller-a".into(), vp.to_bytes())], None)
        .unwrap();
    let call_seconds = audio.len() as f64 / 8000.0;
    println!(
        "call: {call_seconds:.1} s of audio, response time {response_time} s (reached at {:.2} s); engine workers = cores",
        (crossing + 1) as f64 * 0.02
    );
    println!("{:>6} {:>10} {:>10} {:>10} {:>14} {:>12}", "calls", "decided", "p50 ms", "p99 ms", "CPU s/call-s", "calls/core");
    let mut n = arg("--start", 4.0) as usize;
    let max = arg("--max", 256.0) as usize;
    let mut round = 0;
    let mut best = None;
    while n <= max {
        round += 1;
        for i in 0..n {
            let name = format!("r{round}-c{i}");
            api(
                "StartSession",
                json!({"DomainId": domain, "SessionName": name, "SpeakerId": "caller-a",
                       "StreamingConfiguration": {"AuthenticationMinimumSpeechInSeconds": response_time as u8}}),
            )
            .await
            .unwrap();
        }
        let cpu0 = process_cpu_seconds();
        let wall0 = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..n {
            let name = format!("r{round}-c{i}");
            tasks.push(tokio::spawn(call(addr.clone(), domain.clone(), name, audio.clone(), crossing)));
            // Calls start spread over one second, as arrivals would be.
            tokio::time::sleep(Duration::from_millis(1000 / n as u64)).await;
        }
        let mut latencies = Vec::new();
        for t in tasks {
            if let Ok(Some(l)) = t.await {
                latencies.push(l * 1000.0);
            }
        }
        let cpu = process_cpu_seconds() - cpu0;
        let _wall = wall0.elapsed();
        latencies.sort_by(f64::total_cmp);
        let cpu_per_call_second = cpu / (n as f64 * call_seconds);
        if latencies.is_empty() {
            println!("{n:>6} {:>10}", 0);
            break;
        }
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        println!(
            "{n:>6} {:>10} {p50:>10.0} {p99:>10.0} {cpu_per_call_second:>14.4} {:>12.1}",
            latencies.len(),
            1.0 / cpu_per_call_second
        );
        if p99 > 300.0 || latencies.len() < n {
            break;
        }
        best = Some(n);
        n *= 2;
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    match best {
        Some(b) => println!(
            "largest N with p99 <= 300 ms: {b} concurrent calls on {cores} cores ({:.1} per core)",
            b as f64 / cores as f64
        ),
        None => println!("p99 > 300 ms already at the first N"),
    }
    let _ = server.stop().await;
}
