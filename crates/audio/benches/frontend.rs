//! Front-end throughput: decode + resample + VAD on 10 s of speech-like audio, for the
//! formats calls arrive in. Run: `cargo bench -p voiceprint-audio --bench frontend`.
//! Throughput is reported in bytes of input per second; 10 s of audio per iteration.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voiceprint_audio::{
    decode_bytes, detect_speech, linear_to_mulaw, prepare_bytes, resample,
    simulate_telephone_channel, DecodeOptions, RawEncoding, RawFormat, StreamingFrontEnd,
};

const SECONDS: usize = 10;

/// Vowel-like bursts (harmonics of 140 Hz, 1.2 s on / 0.5 s off) over faint noise.
fn speechlike(rate: u32) -> Vec<f32> {
    let mut state = 1u64;
    (0..SECONDS * rate as usize)
        .map(|i| {
            let t = i as f32 / rate as f32;
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let hiss = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.002;
            let on = (t % 1.7) < 1.2;
            let voice: f32 = (1..12)
                .map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32)
                .sum();
            hiss + if on { 0.1 * voice } else { 0.0 }
        })
        .collect()
}

fn wav16(samples: &[f32], rate: u32) -> Vec<u8> {
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|v| ((v * 32_767.0) as i16).to_le_bytes())
        .collect();
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("frontend_10s");
    group.sample_size(20);
    group.measurement_time(std::time::Duration::from_secs(3));
    group.warm_up_time(std::time::Duration::from_millis(500));

    let wav_16k = wav16(&speechlike(16_000), 16_000);
    let wav_44k = wav16(&speechlike(44_100), 44_100);
    let ulaw_8k: Vec<u8> = speechlike(8_000)
        .iter()
        .map(|v| linear_to_mulaw((v * 32_767.0) as i16))
        .collect();
    let raw = DecodeOptions {
        raw: Some(RawFormat {
            encoding: RawEncoding::Mulaw,
            sample_rate: 8_000,
            channels: 1,
        }),
        ..Default::default()
    };

    for (name, bytes, options) in [
        ("prepare_wav_16k", &wav_16k, DecodeOptions::default()),
        ("prepare_wav_44k", &wav_44k, DecodeOptions::default()),
        ("prepare_raw_mulaw_8k", &ulaw_8k, raw),
    ] {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| prepare_bytes(bytes, &options).unwrap()));
    }
    group.throughput(Throughput::Bytes(ulaw_8k.len() as u64));
    let format = RawFormat {
        encoding: RawEncoding::Mulaw,
        sample_rate: 8_000,
        channels: 1,
    };
    group.bench_function("stream_mulaw_8k_20ms_chunks", |b| {
        b.iter(|| {
            let mut stream = StreamingFrontEnd::new(format, 0, 600.0).unwrap();
            for chunk in ulaw_8k.chunks(160) {
                stream.push_bytes(chunk).unwrap();
            }
            stream.finish().unwrap();
            stream.net_speech_seconds()
        })
    });
    group.throughput(Throughput::Bytes(wav_44k.len() as u64));
    group.bench_function("decode_wav_44k", |b| {
        b.iter(|| decode_bytes(&wav_44k, &DecodeOptions::default()).unwrap())
    });
    let at_44k = speechlike(44_100);
    group.bench_function("resample_44k_to_16k", |b| {
        b.iter(|| resample(&at_44k, 44_100, 16_000).unwrap())
    });
    let at_16k = speechlike(16_000);
    group.bench_function("vad_16k", |b| b.iter(|| detect_speech(&at_16k)));
    group.bench_function("telephone_channel_16k", |b| {
        b.iter(|| simulate_telephone_channel(&at_16k))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
