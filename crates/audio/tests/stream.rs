//! The live-call front end: chunked raw media must give what the whole-file path gives.
//! Belongs here: StreamingFrontEnd behaviour (chunking, flushing, limits, DC removal).

mod common;

use common::*;
use voiceprint_audio::{
    linear_to_mulaw, prepare_bytes, AudioError, DecodeOptions, RawEncoding, RawFormat,
    StreamingFrontEnd,
};

const MULAW_8K: RawFormat = RawFormat {
    encoding: RawEncoding::Mulaw,
    sample_rate: 8_000,
    channels: 1,
};

/// 6 s at 8 kHz: 1 s pause, 2 s vowel-like speech, 1 s pause, 1.5 s speech, 0.5 s pause.
fn call_audio() -> Vec<f32> {
    let voiced = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / 8_000.0;
                let envelope = 0.6 + 0.4 * (2.0 * PI * 3.0 * t).sin();
                envelope
                    * (1..12)
                        .map(|h| (2.0 * PI * 130.0 * h as f32 * t).sin() / h as f32)
                        .sum::<f32>()
                    * 0.12
            })
            .collect()
    };
    let mut x = vec![0.0f32; 8_000];
    x.extend(voiced(16_000));
    x.extend(vec![0.0; 8_000]);
    x.extend(voiced(12_000));
    x.extend(vec![0.0; 4_000]);
    for (v, n) in x.iter_mut().zip(noise(48_000, 9)) {
        *v += n * 0.001;
    }
    x
}

fn mulaw(x: &[f32]) -> Vec<u8> {
    x.iter()
        .map(|&v| linear_to_mulaw((v.clamp(-1.0, 1.0) * 32_767.0) as i16))
        .collect()
}

#[test]
fn chunked_mulaw_stream_matches_the_whole_file_path() {
    let bytes = mulaw(&call_audio());
    let whole = prepare_bytes(
        &bytes,
        &DecodeOptions {
            raw: Some(MULAW_8K),
            ..Default::default()
        },
    )
    .unwrap();

    let mut stream = StreamingFrontEnd::new(MULAW_8K, 0, 600.0).unwrap();
    // Uneven chunk sizes, as RTP/WebSocket frames arrive (20 ms = 160 bytes, plus odd ones).
    let sizes = [160usize, 1, 333, 160, 7, 1_000];
    let (mut pos, mut i) = (0, 0);
    while pos < bytes.len() {
        let end = (pos + sizes[i % sizes.len()]).min(bytes.len());
        stream.push_bytes(&bytes[pos..end]).unwrap();
        pos = end;
        i += 1;
        // Output keeps up with the input to within a resampler chunk and its delay.
        let behind = (stream.received_seconds() * 16_000.0) as usize - stream.samples_16k().len();
        assert!(behind <= 2_048, "output lags {behind} samples");
    }
    stream.finish().unwrap();
    assert!((stream.received_seconds() - 6.0).abs() < 1e-9);
    assert_eq!(stream.samples_16k().len(), whole.samples_16k.len());
    // Same resampler, different DC removal: samples agree closely.
    let err = stream
        .samples_16k()
        .iter()
        .zip(&whole.samples_16k)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 0.01, "max difference {err}");
    let (live, offline) = (stream.net_speech_seconds(), whole.net_speech_seconds());
    assert!(
        (live - 3.5).abs() < 0.1 && (offline - 3.5).abs() < 0.1,
        "live {live}, offline {offline}"
    );
    assert!(matches!(
        stream.push_bytes(&[0xFF]),
        Err(AudioError::InvalidOption(_))
    ));
}

#[test]
fn stream_removes_dc_and_passes_16k_through() {
    let format = RawFormat {
        encoding: RawEncoding::PcmS16le,
        sample_rate: 16_000,
        channels: 2,
    };
    let speech: Vec<f32> = tone(220.0, 0.3, 16_000, 3.0)
        .iter()
        .map(|v| v - 0.085)
        .collect();
    let other = vec![0.5f32; speech.len()];
    let bytes: Vec<u8> = interleave(&[other, speech])
        .iter()
        .flat_map(|v| ((v * 32_767.0) as i16).to_le_bytes())
        .collect();
    let mut stream = StreamingFrontEnd::new(format, 1, 600.0).unwrap();
    for chunk in bytes.chunks(641) {
        stream.push_bytes(chunk).unwrap();
    }
    stream.finish().unwrap();
    assert_eq!(stream.samples_16k().len(), 48_000);
    let tail = &stream.samples_16k()[16_000..];
    assert!(
        mean(tail).abs() < 0.002,
        "mean after DC removal {}",
        mean(tail)
    );
    assert!(
        (rms(tail) - 0.3 / 2f32.sqrt()).abs() < 0.01,
        "rms {}",
        rms(tail)
    );
}

#[test]
fn stream_limits_are_typed_errors() {
    assert!(matches!(
        StreamingFrontEnd::new(
            RawFormat {
                sample_rate: 1,
                ..MULAW_8K
            },
            0,
            600.0
        ),
        Err(AudioError::BadSampleRate(1))
    ));
    assert!(matches!(
        StreamingFrontEnd::new(MULAW_8K, 1, 600.0),
        Err(AudioError::ChannelOutOfRange {
            index: 1,
            channels: 1
        })
    ));
    assert!(StreamingFrontEnd::new(
        RawFormat {
            channels: 0,
            ..MULAW_8K
        },
        0,
        600.0
    )
    .is_err());
    assert!(matches!(
        StreamingFrontEnd::new(MULAW_8K, 0, -1.0),
        Err(AudioError::InvalidOption(_))
    ));
    let mut stream = StreamingFrontEnd::new(MULAW_8K, 0, 1.0).unwrap();
    stream.push_bytes(&[0xFF; 8_000]).unwrap();
    for _ in 0..3 {
        assert!(matches!(
            stream.push_bytes(&[0xFF; 160]),
            Err(AudioError::TooLong { .. })
        ));
    }
    // What was accepted stays usable.
    stream.finish().unwrap();
    assert_eq!(stream.samples_16k().len(), 16_000);
    assert!((stream.received_seconds() - 1.0).abs() < 1e-9);
}
