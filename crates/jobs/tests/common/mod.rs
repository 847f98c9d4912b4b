//! Shared fixtures of the job tests: a real service (SQLite store, CAM++ weights,
//! the batch-job runner) and test speech generated with espeak-ng + sox as Voice
//! ID's 8 kHz PCM-16 WAV.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use voiceprint_jobs::{BatchJobRunner, JobsConfig};
use voiceprint_voiceid::types::{CreateDomainRequest, Job, ServerSideEncryptionConfiguration};
use voiceprint_voiceid::{Biometrics, JobKind, JobRef, ServiceConfig, VoiceIdService};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The weights folder: `$VOICEPRINT_MODELS_DIR` or `<repo>/models`; `None` (and a
/// printed reason) when the CAM++ weights are not there.
pub fn models_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("models"));
    if dir.join("campplus/campplus_cn_en_common.pt").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: CAM++ weights not found under {} (run scripts/fetch-models.sh)",
            dir.display()
        );
        None
    }
}

/// Whether espeak-ng and sox are installed (printing why not).
pub fn have_speech_tools() -> bool {
    for tool in ["espeak-ng", "sox"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!(
                "SKIP: {tool} is not installed (tests generate their speech with espeak-ng + sox)"
            );
            return false;
        }
    }
    true
}

/// One synthetic "person": an espeak-ng voice with its own pitch and speed.
#[derive(Debug, Clone, Copy)]
pub struct Voice {
    pub name: &'static str,
    pub pitch: u32,
    pub speed: u32,
}

/// Voices that CAM++ keeps apart (checked by `voices_are_separable` in jobs.rs).
pub const VOICES: [Voice; 6] = [
    Voice {
        name: "en-us+m3",
        pitch: 35,
        speed: 150,
    },
    Voice {
        name: "en-gb+f2",
        pitch: 70,
        speed: 160,
    },
    Voice {
        name: "en-us+m7",
        pitch: 20,
        speed: 140,
    },
    Voice {
        name: "en-gb-scotland+f4",
        pitch: 85,
        speed: 170,
    },
    Voice {
        name: "fr+f1",
        pitch: 60,
        speed: 155,
    },
    Voice {
        name: "es+m1",
        pitch: 55,
        speed: 150,
    },
];

/// Texts of about 8–10 s of speech each.
pub const TEXTS: [&str; 3] = [
    "The quick brown fox jumps over the lazy dog while the farmer counts his sheep \
     near the old stone bridge, and the river keeps running towards the distant sea.",
    "Please remember to bring your identification card, the signed contract and two \
     recent photographs when you visit the branch office next Thursday afternoon.",
    "Yesterday evening we walked along the harbour, watched the fishing boats return \
     and talked about the summer holidays we had planned for many years.",
];

/// Synthesises `text` in `voice` and writes an 8 kHz mono PCM-16 WAV to `out`.
pub fn speak(voice: Voice, text: &str, out: &Path) {
    let raw = out.with_extension("raw.wav");
    let status = Command::new("espeak-ng")
        .args([
            "-v",
            voice.name,
            "-p",
            &voice.pitch.to_string(),
            "-s",
            &voice.speed.to_string(),
            "-w",
        ])
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success(), "espeak-ng failed for {voice:?}");
    let status = Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(out)
        .status()
        .expect("sox runs");
    assert!(status.success(), "sox failed");
    std::fs::remove_file(raw).ok();
}

/// A two-channel 8 kHz WAV: `left` on channel 0, `right` on channel 1.
pub fn stereo(left: &Path, right: &Path, out: &Path) {
    let status = Command::new("sox")
        .args(["-M"])
        .arg(left)
        .arg(right)
        .arg(out)
        .status()
        .expect("sox runs");
    assert!(status.success(), "sox -M failed");
}

/// A real service over a fresh SQLite store with CAM++ on 2 engine threads, and its
/// started batch-job runner.
pub struct Harness {
    pub dir: PathBuf,
    pub service: Arc<VoiceIdService>,
    pub runner: Arc<BatchJobRunner>,
}

pub fn open_service(
    data_dir: &Path,
    models: &Path,
    config: JobsConfig,
) -> (Arc<VoiceIdService>, Arc<BatchJobRunner>) {
    open_service_with(data_dir, models, config, None)
}

/// [`open_service`] with a voice-spoofing scorer attached to the service.
pub fn open_service_with(
    data_dir: &Path,
    models: &Path,
    config: JobsConfig,
    spoof: Option<Arc<dyn voiceprint_voiceid::sessions::SpoofScorer>>,
) -> (Arc<VoiceIdService>, Arc<BatchJobRunner>) {
    std::fs::create_dir_all(data_dir).unwrap();
    let keyring = voiceprint_store::Keyring::open_or_create(data_dir).unwrap();
    let store = Arc::new(voiceprint_store::SqliteStore::open(data_dir, keyring).unwrap());
    let biometrics = Arc::new(Biometrics::load(models, "campplus", 2).unwrap());
    let runner = BatchJobRunner::new(config);
    let mut service = VoiceIdService::new(store, ServiceConfig::default(), &[7u8; 32])
        .with_biometrics(biometrics)
        .with_job_runner(runner.clone());
    if let Some(scorer) = spoof {
        service = service.with_spoof_scorer(scorer);
    }
    let service = Arc::new(service);
    runner.start(service.clone()).unwrap();
    (service, runner)
}

pub fn create_domain(service: &VoiceIdService, name: &str) -> (String, String) {
    let d = service
        .create_domain(CreateDomainRequest {
            client_token: None,
            description: None,
            name: name.into(),
            server_side_encryption_configuration: ServerSideEncryptionConfiguration {
                kms_key_id: "default".into(),
            },
            tags: None,
        })
        .unwrap()
        .domain;
    (d.domain_id, d.watchlist_details.default_watchlist_id)
}

/// Polls until the job leaves SUBMITTED/IN_PROGRESS (panics after `limit`).
pub fn wait_for(service: &VoiceIdService, job: &JobRef, limit: Duration) -> Job {
    let start = Instant::now();
    loop {
        let j = service.job(job).unwrap().expect("job exists");
        if j.job_status != "SUBMITTED" && j.job_status != "IN_PROGRESS" {
            return j;
        }
        assert!(
            start.elapsed() < limit,
            "job still {} after {limit:?}",
            j.job_status
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn job_ref(kind: JobKind, domain_id: &str, job_id: &str) -> JobRef {
    JobRef {
        kind,
        domain_id: domain_id.into(),
        job_id: job_id.into(),
    }
}

/// A `moto_server` (PyPI `moto[server]`) on a free local port, killed on drop.
pub struct MotoServer {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto_server (`$VOICEPRINT_MOTO_SERVER` or `moto_server` on PATH); `None`
/// with a printed reason when it is not installed (scripts/test.sh installs it).
pub fn start_moto() -> Option<MotoServer> {
    let program = std::env::var("VOICEPRINT_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = match std::process::Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIP: cannot run {program} ({e}); `pip install 'moto[server]'` or set VOICEPRINT_MOTO_SERVER");
            return None;
        }
    };
    let server = MotoServer {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(server)
}

/// `PUT /<bucket>` (moto accepts unsigned requests).
pub fn create_bucket(endpoint: &str, bucket: &str) {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}
