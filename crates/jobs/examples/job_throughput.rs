//! Batch enrollment throughput: records per minute for 10 s recordings.
//!
//! ```text
//! cargo run --release -p voiceprint-jobs --example job_throughput -- [--records 120] [--engines 2] [--workers 0]
//! ```
//! Generates six 10 s espeak-ng voices (8 kHz PCM-16 WAV, like Voice ID's input),
//! writes an enrollment manifest of `--records` requests cycling over them (each
//! request is embedded on its own: nothing is cached), runs it through the real
//! runner, SQLite store and CAM++ on `--engines` engine threads, and prints
//! records/minute. Needs the CAM++ weights (`scripts/fetch-models.sh`), espeak-ng
//! and sox.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use voiceprint_jobs::{file_uri, BatchJobRunner, JobsConfig};
use voiceprint_voiceid::types::{
    CreateDomainRequest, InputDataConfig, OutputDataConfig, ServerSideEncryptionConfiguration,
    StartSpeakerEnrollmentJobRequest,
};
use voiceprint_voiceid::{Biometrics, JobKind, JobRef, ServiceConfig, VoiceIdService};

const VOICES: [(&str, u32, u32); 6] = [
    ("en-us+m3", 35, 150),
    ("en-gb+f2", 70, 160),
    ("en-us+m7", 20, 140),
    ("en-gb-scotland+f4", 85, 170),
    ("fr+f1", 60, 155),
    ("es+m1", 55, 150),
];
const TEXT: &str = "The quick brown fox jumps over the lazy dog while the farmer counts his sheep \
    near the old stone bridge, and the river keeps running towards the distant sea. Please \
    remember to bring your identification card and two recent photographs next Thursday.";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .expect("tool runs (espeak-ng and sox must be installed)");
    assert!(status.success(), "{cmd:?} failed");
}

/// Exactly 10 s of 8 kHz mono PCM-16 speech in `voice`.
fn ten_seconds(voice: (&str, u32, u32), out: &Path) {
    let raw = out.with_extension("raw.wav");
    run(Command::new("espeak-ng")
        .args([
            "-v",
            voice.0,
            "-p",
            &voice.1.to_string(),
            "-s",
            &voice.2.to_string(),
            "-w",
        ])
        .arg(&raw)
        .arg(TEXT));
    run(Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(out)
        .args(["pad", "0", "10", "trim", "0", "10"]));
}

fn main() {
    let records = arg("--records", 120);
    let engines = arg("--engines", 2);
    let workers = arg("--workers", 0);
    let models = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let files: Vec<PathBuf> = VOICES
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = root.join(format!("voice{i}.wav"));
            ten_seconds(*v, &p);
            p
        })
        .collect();
    let requests: Vec<Value> = (0..records)
        .map(|i| {
            json!({"RequestId": format!("r{i}"), "SpeakerId": format!("speaker-{i}"),
                   "AudioSpecifications": [{"S3Uri": file_uri(&files[i % files.len()]), "ChannelId": 0}]})
        })
        .collect();
    let manifest = root.join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::to_vec(&json!({"Version": "1.0", "SpeakerEnrollmentRequests": requests}))
            .unwrap(),
    )
    .unwrap();

    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let keyring = voiceprint_store::Keyring::open_or_create(&data).unwrap();
    let store = Arc::new(voiceprint_store::SqliteStore::open(&data, keyring).unwrap());
    let biometrics = Arc::new(
        Biometrics::load(&models, "campplus", engines)
            .expect("CAM++ weights (run scripts/fetch-models.sh or set VOICEPRINT_MODELS_DIR)"),
    );
    let runner = BatchJobRunner::new(JobsConfig {
        workers,
        file_root: Some(root.clone()),
        min_speech_seconds: 4.0,
        ..JobsConfig::default()
    });
    let service = Arc::new(
        VoiceIdService::new(store, ServiceConfig::default(), &[1u8; 32])
            .with_biometrics(biometrics)
            .with_job_runner(runner.clone()),
    );
    runner.start(service.clone()).unwrap();
    let domain = service
        .create_domain(CreateDomainRequest {
            client_token: None,
            description: None,
            name: "bench".into(),
            server_side_encryption_configuration: ServerSideEncryptionConfiguration {
                kms_key_id: "default".into(),
            },
            tags: None,
        })
        .unwrap()
        .domain
        .domain_id;
    let start = Instant::now();
    let job = service
        .start_speaker_enrollment_job(StartSpeakerEnrollmentJobRequest {
            client_token: None,
            data_access_role_arn: "arn:aws:iam::000000000000:role/bench".into(),
            domain_id: domain.clone(),
            enrollment_config: None,
            input_data_config: InputDataConfig {
                s3_uri: file_uri(&manifest),
            },
            job_name: None,
            output_data_config: OutputDataConfig {
                kms_key_id: None,
                s3_uri: file_uri(&root.join("out")),
            },
        })
        .unwrap()
        .job;
    let job_ref = JobRef {
        kind: JobKind::SpeakerEnrollment,
        domain_id: domain,
        job_id: job.job_id,
    };
    let done = loop {
        let j = service.job(&job_ref).unwrap().unwrap();
        if j.job_status != "SUBMITTED" && j.job_status != "IN_PROGRESS" {
            break j;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(done.job_status, "COMPLETED", "{done:?}");
    println!(
        "{records} records of 10 s audio, {engines} engine threads: {secs:.1} s = {:.0} records/minute ({:.0} audio-minutes/minute)",
        records as f64 * 60.0 / secs,
        records as f64 * 10.0 / secs
    );
    runner.stop();
}
