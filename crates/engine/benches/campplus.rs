//! CAM++ throughput: Kaldi fbank alone and the full embedding, on a real
//! LibriSpeech utterance when ../shared is present (else a synthetic signal).
//! Throughput is reported in samples/s; divide by 16 000 for audio seconds/s
//! (the real-time factor is its inverse). Skips the model bench when the
//! weights have not been fetched. Single-threaded: nothing here spawns threads.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voiceprint_engine::campplus::CamPlusPlus;
use voiceprint_engine::fbank::KaldiFbank;
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
    let seconds = samples.len() as f64 / 16_000.0;
    let mut group = c.benchmark_group("campplus");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.sample_size(10);

    let fbank = KaldiFbank::new(80);
    let mut out = Vec::new();
    group.bench_function(format!("fbank_{seconds:.1}s"), |b| {
        b.iter(|| fbank.compute_into(&samples, &mut out))
    });

    let weights = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
        .join("campplus/campplus_cn_en_common.pt");
    match CamPlusPlus::load(&weights) {
        Ok(model) => {
            group.bench_function(format!("embed_{seconds:.1}s"), |b| {
                b.iter(|| model.embed(&samples).expect("embed"))
            });
        }
        Err(e) => eprintln!("skipping CAM++ model bench: {e}"),
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
