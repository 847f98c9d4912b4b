//! Stop-gap audio front end for the CLI: WAV (PCM 8/16/24/32, float 32) decoding,
//! band-limited resampling to 16 kHz, an energy voice-activity detector and a G.711 μ-law
//! telephone-channel simulation.
//!
//! Why it exists: the `voiceprint-audio` crate's decoder/VAD API (`prepare_file`,
//! `speech_only`, `simulate_telephone_channel`) had not landed when the CLI was written.
//! Everything here is behind the same shapes, so switching `model.rs` over to
//! `voiceprint_audio` is a few lines and this file can then be deleted. FLAC/MP3 are not
//! decoded here.

use std::path::Path;

use voiceprint_audio::{AudioError, MODEL_SAMPLE_RATE};

/// Decoded, DC-free, 16 kHz mono audio with its speech segments.
pub struct Prepared {
    pub samples_16k: Vec<f32>,
    pub duration_seconds: f64,
    pub speech: Vec<std::ops::Range<usize>>,
}

/// Longest file accepted (seconds).
const MAX_SECONDS: f64 = 600.0;

pub fn prepare_file(path: &Path) -> Result<Prepared, AudioError> {
    let bytes = std::fs::read(path)?;
    let (rate, mut samples) = decode_wav(&bytes)?;
    if samples.is_empty() {
        return Err(AudioError::Empty);
    }
    if samples.len() as f64 / f64::from(rate) > MAX_SECONDS {
        return Err(AudioError::TooLong { seconds: samples.len() as f64 / f64::from(rate), max_seconds: MAX_SECONDS });
    }
    let mean = samples.iter().map(|&x| f64::from(x)).sum::<f64>() / samples.len() as f64;
    samples.iter_mut().for_each(|x| *x -= mean as f32);
    let samples_16k = resample(&samples, rate, MODEL_SAMPLE_RATE);
    let speech = detect_speech(&samples_16k);
    if speech.is_empty() {
        return Err(AudioError::NoSpeech);
    }
    Ok(Prepared { duration_seconds: samples_16k.len() as f64 / 16_000.0, samples_16k, speech })
}

/// Parses a RIFF/WAVE file into (rate, mono f32 samples; channel 0 of multi-channel).
fn decode_wav(b: &[u8]) -> Result<(u32, Vec<f32>), AudioError> {
    let corrupt = |m: &str| AudioError::Corrupt(m.to_owned());
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(AudioError::Unsupported("not a RIFF/WAVE file (this build decodes WAV only)".into()));
    }
    let (mut pos, mut fmt, mut data) = (12usize, None, None);
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]) as usize;
        let body = &b[pos + 8..(pos + 8).saturating_add(len).min(b.len())];
        match id {
            b"fmt " => fmt = Some(body),
            b"data" => data = Some(body),
            _ => {}
        }
        pos = (pos + 8).saturating_add(len).saturating_add(len & 1);
    }
    let fmt = fmt.ok_or_else(|| corrupt("no fmt chunk"))?;
    let data = data.ok_or_else(|| corrupt("no data chunk"))?;
    if fmt.len() < 16 {
        return Err(corrupt("fmt chunk too short"));
    }
    let u16_at = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
    let mut format = u16_at(0);
    let channels = usize::from(u16_at(2));
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = u16_at(14);
    if format == 0xFFFE && fmt.len() >= 26 {
        format = u16_at(24); // WAVE_FORMAT_EXTENSIBLE: sub-format GUID starts with the tag
    }
    if channels == 0 {
        return Err(corrupt("zero channels"));
    }
    if !(4_000..=384_000).contains(&rate) {
        return Err(AudioError::BadSampleRate(rate));
    }
    let width = usize::from(bits / 8);
    let frame = width * channels;
    if width == 0 || frame == 0 {
        return Err(corrupt("zero sample width"));
    }
    let sample = |c: &[u8]| -> Option<f32> {
        Some(match (format, bits) {
            (1, 8) => (f32::from(c[0]) - 128.0) / 128.0,
            (1, 16) => f32::from(i16::from_le_bytes([c[0], c[1]])) / 32_768.0,
            (1, 24) => (i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8) as f32 / 8_388_608.0,
            (1, 32) => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32 / 2_147_483_648.0,
            (3, 32) => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            (7, 8) => f32::from(mulaw_to_linear(c[0])) / 32_768.0,
            _ => return None,
        })
    };
    if sample(&vec![0u8; width]).is_none() {
        return Err(AudioError::Unsupported(format!("WAV format tag {format} with {bits} bits")));
    }
    let samples: Vec<f32> = data
        .chunks_exact(frame)
        .map(|f| sample(&f[..width]).unwrap_or(0.0))
        .map(|x| if x.is_finite() { x.clamp(-1.0, 1.0) } else { 0.0 })
        .collect();
    Ok((rate, samples))
}

/// Band-limited (Blackman-windowed sinc) resampling, anti-aliased when downsampling.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to {
        return x.to_vec();
    }
    const ZEROS: f64 = 16.0; // sinc zero crossings each side
    let ratio = f64::from(to) / f64::from(from);
    let cutoff = ratio.min(1.0) * 0.95;
    let half = ZEROS / cutoff;
    let n_out = (x.len() as f64 * ratio).round() as usize;
    (0..n_out)
        .map(|i| {
            let t = i as f64 / ratio;
            let lo = (t - half).ceil().max(0.0) as usize;
            let hi = ((t + half).floor() as usize).min(x.len().saturating_sub(1));
            let mut acc = 0.0f64;
            for (j, &xj) in x.iter().enumerate().take(hi + 1).skip(lo) {
                let d = j as f64 - t;
                let arg = std::f64::consts::PI * d * cutoff;
                let sinc = if arg.abs() < 1e-12 { 1.0 } else { arg.sin() / arg };
                let w = 0.42 + 0.5 * (std::f64::consts::PI * d / half).cos()
                    + 0.08 * (2.0 * std::f64::consts::PI * d / half).cos();
                acc += f64::from(xj) * sinc * w * cutoff;
            }
            acc as f32
        })
        .collect()
}

/// Energy VAD: 20 ms frames more than 15 dB above the noise floor (10th percentile of
/// frame energies) and above -50 dBFS are speech; gaps under 200 ms are bridged.
pub fn detect_speech(x: &[f32]) -> Vec<std::ops::Range<usize>> {
    const FRAME: usize = 320;
    let energies: Vec<f64> = x
        .chunks(FRAME)
        .map(|c| 10.0 * (c.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / c.len() as f64 + 1e-12).log10())
        .collect();
    if energies.is_empty() {
        return Vec::new();
    }
    let mut sorted = energies.clone();
    sorted.sort_by(f64::total_cmp);
    let floor = sorted[sorted.len() / 10];
    let threshold = (floor + 15.0).max(-50.0);
    let mut segments: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, &e) in energies.iter().enumerate() {
        if e <= threshold {
            continue;
        }
        let (start, end) = (i * FRAME, ((i + 1) * FRAME).min(x.len()));
        match segments.last_mut() {
            Some(last) if start - last.end <= 10 * FRAME => last.end = end,
            _ => segments.push(start..end),
        }
    }
    segments
}

pub fn speech_only(x: &[f32], segments: &[std::ops::Range<usize>]) -> Vec<f32> {
    segments.iter().flat_map(|r| x[r.clone()].iter().copied()).collect()
}

/// 16 kHz → 8 kHz → G.711 μ-law encode/decode → 16 kHz.
pub fn simulate_telephone_channel(x: &[f32]) -> Vec<f32> {
    let narrow = resample(x, 16_000, 8_000);
    let coded: Vec<f32> = narrow
        .iter()
        .map(|&v| f32::from(mulaw_to_linear(linear_to_mulaw((v.clamp(-1.0, 1.0) * 32_767.0) as i16))) / 32_768.0)
        .collect();
    resample(&coded, 8_000, 16_000)
}

/// ITU-T G.711 μ-law encoder (standard bias 0x84, clip at 32 635).
pub fn linear_to_mulaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.abs().min(32_635) + 0x84; // bit 7 always set
    let exponent = (31 - magnitude.leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

pub fn mulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_round_trip_is_close() {
        for s in (-32_000i16..32_000).step_by(97) {
            let back = mulaw_to_linear(linear_to_mulaw(s));
            let err = (i32::from(back) - i32::from(s)).abs();
            // μ-law step size grows with magnitude: ≤ 1/16 of the value + 8.
            assert!(err <= i32::from(s).abs() / 16 + 8, "{s} -> {back}");
        }
        assert_eq!(mulaw_to_linear(0xFF), 0);
    }

    #[test]
    fn resampling_keeps_a_tone() {
        let tone: Vec<f32> = (0..8_000).map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8_000.0).sin() * 0.5).collect();
        let up = resample(&tone, 8_000, 16_000);
        assert_eq!(up.len(), 16_000);
        let rms = (up[1000..15000].iter().map(|v| v * v).sum::<f32>() / 14_000.0).sqrt();
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.02, "{rms}");
        // A 6 kHz tone is removed when going down to 8 kHz (Nyquist 4 kHz).
        let high: Vec<f32> = (0..16_000).map(|i| (2.0 * std::f32::consts::PI * 6_000.0 * i as f32 / 16_000.0).sin()).collect();
        let down = resample(&high, 16_000, 8_000);
        let rms = (down[500..7500].iter().map(|v| v * v).sum::<f32>() / 7_000.0).sqrt();
        assert!(rms < 0.02, "{rms}");
    }

    #[test]
    fn vad_finds_the_burst() {
        let mut x = vec![0.0005f32; 48_000];
        for (i, v) in x[16_000..32_000].iter_mut().enumerate() {
            *v = (i as f32 * 0.1).sin() * 0.3;
        }
        let seg = detect_speech(&x);
        assert_eq!(seg.len(), 1);
        assert!((seg[0].start as i64 - 16_000).abs() <= 320 && (seg[0].end as i64 - 32_000).abs() <= 320, "{seg:?}");
    }

    #[test]
    fn bad_wav_is_an_error() {
        assert!(decode_wav(b"RIFF\0\0\0\0WAVE").is_err());
        assert!(decode_wav(b"not audio at all").is_err());
        assert!(decode_wav(&[]).is_err());
    }
}
