//! Speech the integration tests generate and the model they need: espeak-ng voices
//! that CAM++ separates on the 8 kHz μ-law channel (A = the customer, B = an
//! impostor, C = a fraudster), texts of known length, and the skip rule.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const VOICE_A: &str = "en-us+m3";
pub const VOICE_B: &str = "en-us+f4";
pub const VOICE_C: &str = "en-gb-scotland+m5";
/// Over 30 s of net speech.
pub const LONG_TEXT: &str = "The quick brown fox jumps over the lazy dog while the farmer counts his sheep in the early morning light. \
My account number is four five six seven, and I would like to check the balance on my savings account please. \
I have been a customer of this bank for more than ten years and I always pay my bills on time. \
Yesterday I tried to transfer some money to my sister but the transaction did not go through, so I am calling to find out what happened. \
Could you also tell me when my new card will arrive in the mail? I moved to a new address last month, on the corner of Maple Street and Seventh Avenue.";
/// About 12 s of speech: more than the 10 s response time.
pub const SHORT_TEXT: &str = "Hello, I am calling about a payment that I made last week. The amount was two hundred and fifteen dollars \
and it was sent to the electric company. Please let me know if there is anything else you need from me today.";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn models_dir() -> PathBuf {
    std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"))
}

pub fn skip_reason() -> Option<String> {
    if !models_dir()
        .join("campplus/campplus_cn_en_common.pt")
        .is_file()
    {
        return Some("CAM++ weights not found (run scripts/fetch-models.sh)".into());
    }
    for b in ["espeak-ng", "sox"] {
        if !Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(format!("{b} is not installed"));
        }
    }
    None
}

/// `text` by espeak-ng `voice` as headerless 8 kHz μ-law.
pub fn mulaw_speech(dir: &Path, voice: &str, text: &str) -> Vec<u8> {
    let wav = dir.join(format!("{voice}-{}.wav", text.len()));
    let raw = dir.join(format!("{voice}-{}.ulaw", text.len()));
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

/// Start the server in-process over `data_dir` with the fetched speaker models and two
/// engine threads (check [`skip_reason`] first).
pub async fn start_with_models(
    data_dir: &Path,
) -> (voiceprint_server::RunningServer, super::Client) {
    let env = vec![
        (
            "VOICEPRINT__ENGINE__MODELS_DIR".to_string(),
            models_dir().display().to_string(),
        ),
        ("VOICEPRINT__ENGINE__WORKERS".to_string(), "2".to_string()),
    ];
    super::start_in_process_with(data_dir, env).await
}
