//! The voice-spoofing countermeasure in the server's decisions (issue 7): a server
//! with `[antispoof]` pointing at the AASIST weights in ../shared/models scores
//! the start of each call. Synthetic speech (espeak-ng) streamed into a session is
//! HIGH_RISK with reason VOICE_SPOOFING and a VoiceSpoofingRisk score; real human
//! speech (LibriSpeech, ../shared/data) is not; a flow's Check Voice ID
//! fraudDetection takes its HighRisk branch on the synthetic call.
//!
//! Skips with a message when the AASIST weights, the CAM++ weights, the shared
//! speech data, espeak-ng or sox are missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::Client;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared() -> PathBuf {
    std::env::var_os("VOICEPRINT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"))
}

struct Paths {
    models: PathBuf,
    aasist: PathBuf,
    aasist5: PathBuf,
    human: PathBuf,
}

fn paths() -> Result<Paths, String> {
    let models = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    let p = Paths {
        aasist: shared().join("models/aasist"),
        aasist5: shared().join("models/aasist-asvspoof5"),
        human: shared().join("data/librispeech-251spk/198-126831-0000.flac"),
        models,
    };
    if !p.models.join("campplus/campplus_cn_en_common.pt").is_file() {
        return Err("CAM++ weights not found (run scripts/fetch-models.sh)".into());
    }
    if !p.aasist.join("AASIST.pth").is_file() || !p.aasist5.join("AASIST-ASVspoof5.pth").is_file() {
        return Err(format!(
            "AASIST weights not found under {}",
            shared().join("models").display()
        ));
    }
    if !p.human.is_file() {
        return Err(format!(
            "{} not found (shared development data)",
            p.human.display()
        ));
    }
    for b in ["espeak-ng", "sox"] {
        if !Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Err(format!("{b} is not installed"));
        }
    }
    Ok(p)
}

const TEXT: &str = "Hello, I am calling about a payment that I made last week. The amount was two hundred and fifteen dollars \
and it was sent to the electric company. Please let me know if there is anything else you need from me today.";

/// espeak-ng speech as 16 kHz WAV bytes (synthetic: what a cheap attack sounds like).
fn synthetic(dir: &Path) -> Vec<u8> {
    let wav = dir.join("tts.wav");
    let out = dir.join("tts16.wav");
    assert!(Command::new("espeak-ng")
        .args(["-v", "en-us+m3", "-w"])
        .arg(&wav)
        .arg(TEXT)
        .status()
        .unwrap()
        .success());
    assert!(Command::new("sox")
        .arg("-q")
        .arg(&wav)
        .args(["-r", "16000"])
        .arg(&out)
        .status()
        .unwrap()
        .success());
    std::fs::read(out).unwrap()
}

fn fraud(evaluation: &Value) -> &Value {
    &evaluation["FraudDetectionResult"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn synthetic_speech_is_high_risk_with_voice_spoofing_and_human_speech_is_not() {
    let p = match paths() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "VOICEPRINT__ENGINE__MODELS_DIR".to_string(),
            p.models.display().to_string(),
        ),
        ("VOICEPRINT__ENGINE__WORKERS".to_string(), "2".to_string()),
        (
            "VOICEPRINT__ANTISPOOF__ASVSPOOF2019_DIR".to_string(),
            p.aasist.display().to_string(),
        ),
        (
            "VOICEPRINT__ANTISPOOF__ASVSPOOF5_DIR".to_string(),
            p.aasist5.display().to_string(),
        ),
    ];
    let server = voiceprint_server::start(common::test_config(&dir.path().join("data"), env))
        .await
        .unwrap();
    let c = Client::new(
        server.addr.to_string(),
        &server.access_key_id,
        &server.secret_access_key,
    );
    let domain = c
        .ok(
            "CreateDomain",
            json!({"Name": "calls", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
        )
        .await["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = |name: &'static str| {
        let (c, domain) = (c.clone(), domain.clone());
        async move {
            c.ok(
                "StartSession",
                json!({"DomainId": domain, "SessionName": name,
                       "StreamingConfiguration": {"AuthenticationMinimumSpeechInSeconds": 5}}),
            )
            .await
        }
    };

    start("synthetic-call").await;
    common::post_audio(&c, &domain, "synthetic-call", "", &synthetic(dir.path())).await;
    let tts = c
        .ok(
            "EvaluateSession",
            json!({"DomainId": domain, "SessionNameOrId": "synthetic-call"}),
        )
        .await;
    let f = fraud(&tts);
    assert_eq!(f["Decision"], "HIGH_RISK", "{tts}");
    assert_eq!(f["Reasons"], json!(["VOICE_SPOOFING"]), "{tts}");
    let risk = f["RiskDetails"]["VoiceSpoofingRisk"]["RiskScore"]
        .as_u64()
        .unwrap();
    assert!(risk >= 50, "{tts}");

    start("human-call").await;
    common::post_audio(
        &c,
        &domain,
        "human-call",
        "",
        &std::fs::read(&p.human).unwrap(),
    )
    .await;
    let human = c
        .ok(
            "EvaluateSession",
            json!({"DomainId": domain, "SessionNameOrId": "human-call"}),
        )
        .await;
    assert_eq!(fraud(&human)["Decision"], "LOW_RISK", "{human}");
    let human_risk = fraud(&human)["RiskDetails"]["VoiceSpoofingRisk"]["RiskScore"]
        .as_u64()
        .unwrap();
    assert!(human_risk < risk, "human {human_risk} vs synthetic {risk}");

    // A flow's fraudDetection check takes HighRisk on the synthetic call.
    let flow = r#"{"Version": "2019-10-30", "StartAction": "set", "Actions": [
      {"Identifier": "set", "Type": "SetVoiceId",
       "Parameters": {"IsVoiceIdStreamingEnabled": "true", "IsFraudDetectionEnabled": "true", "VoiceAuthenticationResponseTime": "5"},
       "Transitions": {"NextAction": "listen", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "end"}]}},
      {"Identifier": "listen", "Type": "Wait", "Parameters": {"TimeoutSeconds": "2"}, "Transitions": {"NextAction": "fraud"}},
      {"Identifier": "fraud", "Type": "CheckVoiceId", "Parameters": {"CheckVoiceIdOption": "fraudDetection"},
       "Transitions": {"Conditions": [
          {"NextAction": "flag", "Condition": {"Operator": "Equals", "Operands": ["HighRisk"]}},
          {"NextAction": "end", "Condition": {"Operator": "Equals", "Operands": ["LowRisk"]}}],
        "Errors": [{"ErrorType": "NoMatchingCondition", "NextAction": "end"}, {"ErrorType": "NoMatchingError", "NextAction": "end"}]}},
      {"Identifier": "flag", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {"Risk": "High"}}, "Transitions": {"NextAction": "end"}},
      {"Identifier": "end", "Type": "EndFlowExecution", "Parameters": {}, "Transitions": {}}]}"#;
    // The caller's audio reaches the session before the flow's stream block (as with
    // Twilio starting the media stream first): the flow joins that session.
    common::post_audio(&c, &domain, "tts-contact", "", &synthetic(dir.path())).await;
    c.ok(
        "StartContact",
        json!({"DomainId": domain, "ContactId": "tts-contact", "FlowJson": flow}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let contact = loop {
        let contact = c
            .ok(
                "DescribeContact",
                json!({"DomainId": domain, "ContactId": "tts-contact"}),
            )
            .await["Contact"]
            .clone();
        if contact["Status"] == "ENDED" {
            break contact;
        }
        assert!(Instant::now() < deadline, "{contact}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(contact["Attributes"]["Risk"], "High", "{contact}");
    server.stop().await.unwrap();
}
