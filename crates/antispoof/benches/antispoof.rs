//! Countermeasure cost: one 64,600-sample window (4.04 s of audio) through
//! each checkpoint, and a whole detector call on 12 s of audio (3 windows ×
//! 2 models). Divide by the audio seconds for the cost per second of audio
//! (docs/SPOOFING.md has the measured numbers). Needs the weights in
//! ../shared/models (or $VOICEPRINT_SHARED/models); skips otherwise.
//!
//! cargo bench -p voiceprint-antispoof

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use voiceprint_antispoof::{Aasist, SpoofDetector};

fn shared_models() -> Option<PathBuf> {
    let dir = match std::env::var_os("VOICEPRINT_SHARED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
    .join("models");
    dir.join("aasist/AASIST.pth").is_file().then_some(dir)
}

/// A deterministic speech-like test signal: a gliding harmonic tone with
/// amplitude modulation plus a little noise (the cost does not depend on
/// the content, only on the length).
fn signal(len: usize) -> Vec<f32> {
    let mut state = 12345u32;
    (0..len)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            let f0 = 120.0 + 30.0 * (t * 0.7).sin();
            let env = 0.5 + 0.5 * (t * 4.0 * std::f32::consts::TAU).sin();
            let voiced: f32 = (1..6)
                .map(|h| (t * f0 * h as f32 * std::f32::consts::TAU).sin() / h as f32)
                .sum();
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            0.1 * env * voiced + 0.01 * noise
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let Some(models) = shared_models() else {
        eprintln!("SKIP: AASIST weights not found under ../shared/models (set VOICEPRINT_SHARED)");
        return;
    };
    let window = signal(64_600);
    let mut g = c.benchmark_group("antispoof");
    g.sample_size(10);
    for (name, conf, pth) in [
        (
            "AASIST window (4.04 s)",
            "aasist/AASIST.conf",
            "aasist/AASIST.pth",
        ),
        (
            "AASIST-L window (4.04 s)",
            "aasist/AASIST-L.conf",
            "aasist/AASIST-L.pth",
        ),
    ] {
        let model = Aasist::load(&models.join(conf), &models.join(pth)).expect("weights load");
        g.bench_function(name, |b| b.iter(|| model.logits(&window).unwrap()));
    }
    let detector = SpoofDetector::load_dir(&models)
        .expect("weights load")
        .with_max_windows(3);
    let call = signal(12 * 16_000);
    g.bench_function("detector, 12 s call (3 windows x 2 models)", |b| {
        b.iter(|| detector.risk_score(&call).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
