//! Load benchmark for the SIPREC ingress: SIPp (Debian `sip-tester`) places N
//! concurrent SIPREC calls, each playing ~13 s of 8 kHz μ-law speech as RTP at
//! real time, into an in-process server with the real CAM++ model and SQLite
//! store. Half the calls are the enrolled customer (espeak-ng `en-us+m3`), half
//! an impostor (`en-us+f4`) claiming the same customer through the rs-metadata.
//!
//! Reports per N: decisions correct (ACCEPT for the customer, REJECT for the
//! impostor), the server's CPU seconds per second of call audio (this process
//! only; SIPp runs apart), hence calls per core at real time, and the wall time.
//!
//! `cargo run --release -p voiceprint-server --example siprec_load -- [--calls 8,16,32]`
//! Needs models/ (scripts/fetch-models.sh), espeak-ng, sox and sipp.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

const LONG_TEXT: &str = "The quick brown fox jumps over the lazy dog while the farmer counts his sheep in the early morning light. \
My account number is four five six seven, and I would like to check the balance on my savings account please. \
I have been a customer of this bank for more than ten years and I always pay my bills on time. \
Yesterday I tried to transfer some money to my sister but the transaction did not go through, so I am calling to find out what happened. \
Could you also tell me when my new card will arrive in the mail? I moved to a new address last month, on the corner of Maple Street and Seventh Avenue, right next to the old library.";
const SHORT_TEXT: &str = "Hello, I am calling about a payment that I made last week. The amount was two hundred and fifteen dollars \
and it was sent to the electric company. Please let me know if there is anything else you need from me today.";

fn speech(dir: &Path, voice: &str, text: &str) -> Option<Vec<u8>> {
    let wav = dir.join(format!("{voice}-{}.wav", text.len()));
    let raw = dir.join(format!("{voice}-{}.ulaw", text.len()));
    Command::new("espeak-ng")
        .args(["-v", voice, "-s", "160", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    Command::new("sox")
        .arg("-q")
        .arg(&wav)
        .args([
            "-t", "raw", "-r", "8000", "-e", "u-law", "-b", "8", "-c", "1",
        ])
        .arg(&raw)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    std::fs::read(raw).ok()
}

/// A pcap (Ethernet/IPv4/UDP/RTP, 20 ms apart) of μ-law audio for play_pcap_audio.
fn write_pcap(path: &Path, audio: &[u8]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, chunk) in audio.chunks(160).enumerate() {
        let rtp = voiceprint_telephony::rtp::encode(0, i as u16, (i * 160) as u32, 0x5eed, chunk);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[0x08, 0x00]);
        p.extend_from_slice(&[
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
        ]);
        p.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
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

/// utime + stime of this process, seconds.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts SIPp placing `calls` calls at once (Call-IDs `<prefix>-1` …).
fn sipp(
    dir: &Path,
    sip: std::net::SocketAddr,
    prefix: &str,
    audio: &[u8],
    calls: usize,
) -> std::process::Child {
    let pcap = dir.join(format!("{prefix}.pcap"));
    write_pcap(&pcap, audio);
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/siprec_uac.xml"),
    )
    .unwrap()
    .replace("@CUSTOMER@", "caller-a")
    .replace("@PCAP@", pcap.to_str().unwrap())
    .replace("@HALF_MS@", &((audio.len() / 8 + 500) / 2).to_string());
    let sf = dir.join(format!("{prefix}.xml"));
    std::fs::write(&sf, scenario).unwrap();
    Command::new("sipp")
        .arg(sip.to_string())
        .arg("-sf")
        .arg(&sf)
        .args([
            "-m",
            &calls.to_string(),
            "-l",
            &calls.to_string(),
            "-r",
            "200",
            "-rp",
            "1000",
        ])
        .args([
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-nostdin",
            "-timeout",
            "120s",
        ])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &(free_port() & !1).to_string(),
        ])
        .args(["-cid_str", &format!("{prefix}-%u")])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp runs")
}

#[tokio::main]
async fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let models = repo.join("models");
    if !models.join("campplus/campplus_cn_en_common.pt").is_file() {
        eprintln!("skipping: models/ not fetched (scripts/fetch-models.sh)");
        return;
    }
    if Command::new("sipp").arg("-v").output().is_err() {
        eprintln!("skipping: sipp missing (apt-get install sip-tester)");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let counts: Vec<usize> = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![8, 16, 32]);
    let tmp = tempfile::tempdir().unwrap();
    let (Some(enroll), Some(a), Some(b)) = (
        speech(tmp.path(), "en-us+m3", LONG_TEXT),
        speech(tmp.path(), "en-us+m3", SHORT_TEXT),
        speech(tmp.path(), "en-us+f4", SHORT_TEXT),
    ) else {
        eprintln!("skipping: espeak-ng or sox missing");
        return;
    };
    let data = tmp.path().join("data");
    let domain = voiceprint_server::seed_speakers(voiceprint_server::SeedArgs {
        config: None,
        data_dir: Some(data.clone()),
        domain: None,
        count: 0,
        batch: 1,
    })
    .expect("domain");
    let flags = voiceprint_server::config::FlagOverrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(data),
        no_auth: true,
        database_url: None,
    };
    let env: Vec<(String, String)> = [
        ("ENGINE__MODELS_DIR", models.display().to_string()),
        ("SIPREC__LISTEN", "127.0.0.1:0".into()),
        ("SIPREC__DOMAIN_ID", domain.clone()),
        ("SIPREC__MAX_CALLS", "1000".into()),
        ("SESSIONS__MAX_ACTIVE_STREAMS_PER_DOMAIN", "1000".into()),
        ("LOG__FILTER", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("VOICEPRINT__{k}"), v))
    .collect();
    let config = voiceprint_server::config::Config::load(None, env, &flags).expect("config");
    let server = voiceprint_server::start(config).await.expect("server");
    let sip = server.telephony.siprec.expect("SIPREC on");
    let addr = server.addr.to_string();
    let http = reqwest::Client::new();
    let api = |target: &str, body: Value| {
        http.post(format!("http://{addr}/"))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("VoiceID.{target}"))
            .body(body.to_string())
            .send()
    };
    api(
        "StartSession",
        json!({"DomainId": domain, "SessionName": "enroll", "SpeakerId": "caller-a"}),
    )
    .await
    .unwrap();
    api(
        "EnrollBySession",
        json!({"DomainId": domain, "SessionNameOrId": "enroll"}),
    )
    .await
    .unwrap();
    let posted = http
        .post(format!(
            "http://{addr}/v1/sessions/{domain}/enroll/audio?encoding=mulaw&sample_rate=8000"
        ))
        .body(enroll)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "enrollment audio refused");
    let audio_seconds = a.len() as f64 / 8000.0;
    println!("| concurrent calls | correct decisions | server CPU s per call-second | calls per core at real time | wall s |");
    println!("|---|---|---|---|---|");
    for (round, n) in counts.into_iter().enumerate() {
        let half = (n / 2).max(1);
        let (pa, pb) = (format!("a{round}"), format!("b{round}"));
        for prefix in [&pa, &pb] {
            for i in 1..=half {
                api(
                    "StartSession",
                    json!({"DomainId": domain, "SessionName": format!("{prefix}-{i}"),
                    "StreamingConfiguration": {"AuthenticationMinimumSpeechInSeconds": 5}}),
                )
                .await
                .unwrap();
            }
        }
        let cpu0 = process_cpu_seconds();
        let t0 = Instant::now();
        let mut ca = sipp(tmp.path(), sip, &pa, &a, half);
        let mut cb = sipp(tmp.path(), sip, &pb, &b, half);
        let (sa, sb) = tokio::task::spawn_blocking(move || (ca.wait(), cb.wait()))
            .await
            .unwrap();
        // Sessions end as the BYEs arrive; give the last segments a moment.
        let mut correct = 0;
        for (prefix, want) in [(&pa, "ACCEPT"), (&pb, "REJECT")] {
            for i in 1..=half {
                let name = format!("{prefix}-{i}");
                let mut decision = String::new();
                for _ in 0..100 {
                    let r: Value = api(
                        "EvaluateSession",
                        json!({"DomainId": domain, "SessionNameOrId": name}),
                    )
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap_or_default();
                    decision = r["AuthenticationResult"]["Decision"]
                        .as_str()
                        .unwrap_or("-")
                        .to_owned();
                    if r["StreamingStatus"] == "ENDED" {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                if decision == want {
                    correct += 1;
                } else {
                    eprintln!("{name}: {decision}, expected {want}");
                }
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds() - cpu0;
        let call_seconds = 2.0 * half as f64 * audio_seconds;
        let per = cpu / call_seconds;
        if !(sa.as_ref().is_ok_and(|s| s.success()) && sb.as_ref().is_ok_and(|s| s.success())) {
            eprintln!("sipp reported failed calls: {sa:?} {sb:?}");
        }
        println!(
            "| {} | {correct}/{} | {per:.4} | {:.0} | {wall:.1} |",
            2 * half,
            2 * half,
            1.0 / per
        );
    }
    server.stop().await.ok();
}
