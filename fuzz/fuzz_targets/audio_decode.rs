//! Audio decoding: containers (WAV incl. G.711, FLAC, MP3) and headerless
//! telephony streams, then the preparation pipeline (DC removal, resampling,
//! VAD) on whatever decoded. First byte: decode options; rest: the audio.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voiceprint_audio::{decode_bytes, prepare_decoded, DecodeOptions, RawEncoding, RawFormat};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let raw = match selector & 0b11 {
        0 => None,
        n => Some(RawFormat {
            encoding: match n {
                1 => RawEncoding::PcmS16le,
                2 => RawEncoding::Mulaw,
                _ => RawEncoding::Alaw,
            },
            sample_rate: if selector & 0b100 == 0 { 8000 } else { 16000 },
            channels: if selector & 0b1000 == 0 { 1 } else { 2 },
        }),
    };
    let options = DecodeOptions {
        channel_index: usize::from((selector >> 4) & 1),
        // Keep the resampler's work bounded for the fuzzer; the default 600 s
        // is checked by the unit tests.
        max_seconds: 30.0,
        raw,
    };
    if let Ok(decoded) = decode_bytes(bytes, &options) {
        if selector & 0b10_0000 != 0 {
            let _ = prepare_decoded(decoded);
        }
    }
});
