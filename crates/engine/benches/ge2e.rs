//! GE2E throughput: mel features alone and the full embedding, on a real
//! LibriSpeech utterance when ../shared is present (else a synthetic signal).
//! Throughput is reported in samples/s; divide by 16 000 for audio seconds/s.
//! Skips the model benches when the weights have not been fetched.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voiceprint_engine::ge2e::{Ge2e, Precision};
use voiceprint_engine::mel::MelSpectrogram;
use voiceprint_engine::Embedder;

mod common;
use common::speech;

fn bench(c: &mut Criterion) {
    let samples = speech();
    let mut group = c.benchmark_group("ge2e");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.sample_size(20);

    let mel = MelSpectrogram::resemblyzer();
    let frames = mel.frames_for(samples.len());
    let mut out = Vec::new();
    group.bench_function(
        format!("mel_{:.1}s", samples.len() as f64 / 16_000.0),
        |b| b.iter(|| mel.compute(&samples, frames, &mut out)),
    );

    let weights = common::models_dir().join("ge2e/pretrained.pt");
    match Ge2e::load(&weights) {
        Ok(mut model) => {
            for precision in [Precision::F32, Precision::Bf16] {
                if model.set_precision(precision) != precision {
                    eprintln!("skipping {precision:?}: not supported by this CPU");
                    continue;
                }
                group.bench_function(
                    format!(
                        "embed_{precision:?}_{:.1}s",
                        samples.len() as f64 / 16_000.0
                    ),
                    |b| b.iter(|| model.embed(&samples).expect("embed")),
                );
            }
        }
        Err(e) => eprintln!("skipping GE2E model bench: {e}"),
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
