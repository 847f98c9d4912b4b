//! GE2E throughput: mel features alone and the full embedding, on a real
//! LibriSpeech utterance when ../shared is present (else a synthetic signal).
//! Throughput is reported in samples/s; divide by 16 000 for audio seconds/s.
//! Skips the model benches when the weights have not been fetched.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voiceprint_engine::ge2e::{Ge2e, Precision};
use voiceprint_engine::mel::MelSpectrogram;
use voiceprint_engine::Embedder;

fn speech() -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/librispeech-251spk/1034-121119-0000.flac");
    if let Ok(mut reader) = claxon::FlacReader::open(&path) {
        let samples: Result<Vec<i32>, _> = reader.samples().collect();
        if let Ok(s) = samples {
            return s.into_iter().map(|x| x as f32 / 32768.0).collect();
        }
    }
    eprintln!(
        "note: {} not found; benchmarking 10 s of a synthetic signal",
        path.display()
    );
    (0..160_000)
        .map(|i| ((i as f32 * 0.031).sin() + (i as f32 * 0.0071).sin()) * 0.2)
        .collect()
}

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

    let weights = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
        .join("ge2e/pretrained.pt");
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
