//! CAM++ throughput: Kaldi fbank alone and the full embedding, on a real
//! LibriSpeech utterance when ../shared is present (else a synthetic signal).
//! Throughput is reported in samples/s; divide by 16 000 for audio seconds/s
//! (the real-time factor is its inverse). Skips the model bench when the
//! weights have not been fetched. Single-threaded: nothing here spawns threads.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voiceprint_engine::campplus::CamPlusPlus;
use voiceprint_engine::fbank::KaldiFbank;
use voiceprint_engine::Embedder;

mod common;
use common::speech;

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

    let weights = common::models_dir().join("campplus/campplus_cn_en_common.pt");
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
