//! Batch-job input manifests (speaker enrollment and fraudster registration).
#![no_main]

use libfuzzer_sys::fuzz_target;
use voiceprint_jobs::manifest::parse_manifest;
use voiceprint_jobs::JobKind;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let kind = if selector & 1 == 0 {
        JobKind::SpeakerEnrollment
    } else {
        JobKind::FraudsterRegistration
    };
    let _ = parse_manifest(kind, bytes);
});
