//! Signal quality of a recording: net speech, signal-to-noise ratio and clipping.
//!
//! Enrollment (voiceid) refuses or flags recordings that are too short, too noisy or
//! clipped; this module only measures. Nothing here judges.
//!
//! - **SNR**: 20 ms frames of the 16 kHz signal are split by the VAD's speech ranges.
//!   Speech level = mean power of the frames inside speech (the active speech level);
//!   noise level = mean power of the quieter half of the frames wholly outside it
//!   (robust to breaths and the decays at segment edges, which the VAD leaves
//!   outside). When there is no such frame (speech from end to end), the noise floor
//!   is the mean power of the quietest 10 % of all frames. The noise power is subtracted from the
//!   speech level (speech frames hold both), so a sine in white noise of known level
//!   reads its true SNR. Digital silence is floored at -100 dBFS and the result capped
//!   at [`MAX_SNR_DB`].
//! - **STNR** (speech-to-noise ratio without a VAD, after NIST's `stnr`): the 95th
//!   percentile of all 20 ms frame powers is the speech level, the 10th percentile the
//!   noise level. It needs no speech/pause decision, so babble or pink noise that the
//!   VAD keeps as speech still lowers it: on the noisy development lists it rises
//!   steadily with the mixed SNR (mixed at 0 dB it reads 6–14 dB, at 20 dB 24–28 dB,
//!   clean tests about 39 dB), where the VAD-split SNR above does not. The fusion
//!   weighs this one (`SpeechConditions` in voiceprint-engine, docs/CALIBRATION.md).
//! - **Clipping**: measured on the decoded signal, before DC removal and resampling
//!   (both smear a flat top). A sample counts as clipped when |x| ≥ [`CLIP_LEVEL`] and
//!   it belongs to a run of at least [`CLIP_RUN`] consecutive samples of one sign whose
//!   values stay within [`CLIP_FLATNESS`] of each other: a flat top. A loud recording
//!   whose peaks touch full scale without flattening is not counted. The fraction is
//!   relative to the speech's duration (clipping only happens in speech).

use std::ops::Range;

use crate::vad::{net_speech_seconds, VAD_FRAME};

/// Level at or above which a sample may be clipped. Full scale is 1.0 for PCM and
/// float, but G.711's largest code decodes to 0.980 (μ-law) / 0.984 (A-law), so the
/// level sits just below both; flatness (not level alone) makes a sample clipped.
pub const CLIP_LEVEL: f32 = 0.97;
/// Consecutive samples at the clip level that make a flat top.
pub const CLIP_RUN: usize = 3;
/// Largest spread of the samples of a flat top.
pub const CLIP_FLATNESS: f32 = 1e-3;
/// SNR reported for a recording with no measurable noise (digital silence).
pub const MAX_SNR_DB: f64 = 100.0;
/// Power floor (-100 dBFS): digital silence.
const POWER_FLOOR: f64 = 1e-10;

/// What [`measure_quality`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioQuality {
    /// Seconds of speech found by the voice-activity detector.
    pub net_speech_seconds: f64,
    /// Speech power over noise power, in dB.
    pub snr_db: f64,
    /// Speech-to-noise ratio from the frame-power distribution, in dB ([`stnr_db`]).
    pub stnr_db: f64,
    /// Share of the speech's samples that are clipped (0–1).
    pub clipped_fraction: f64,
}

/// Measures a prepared recording: `samples_16k` and its `speech` ranges, and
/// `clipped_samples` counted on the decoded signal at `source_rate` (see
/// [`count_clipped_samples`]).
pub fn measure_quality(
    samples_16k: &[f32],
    speech: &[Range<usize>],
    clipped_samples: usize,
    source_rate: u32,
) -> AudioQuality {
    let net = net_speech_seconds(speech);
    let speech_samples_at_source = (net * f64::from(source_rate)).max(1.0);
    AudioQuality {
        net_speech_seconds: net,
        snr_db: snr_db(samples_16k, speech),
        stnr_db: stnr_db(samples_16k),
        clipped_fraction: (clipped_samples as f64 / speech_samples_at_source).min(1.0),
    }
}

/// Samples of `samples` (decoded, full scale ±1) that sit in flat tops at full scale.
pub fn count_clipped_samples(samples: &[f32]) -> usize {
    let mut clipped = 0;
    let mut run_start = 0;
    let mut run_len = 0usize;
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    let mut close = |len: usize| {
        if len >= CLIP_RUN {
            clipped += len;
        }
    };
    for (i, &x) in samples.iter().enumerate() {
        let at_top = x.abs() >= CLIP_LEVEL;
        let continues = at_top
            && run_len > 0
            && (x > 0.0) == (samples[run_start] > 0.0)
            && x.max(hi) - x.min(lo) <= CLIP_FLATNESS;
        if continues {
            run_len += 1;
            lo = lo.min(x);
            hi = hi.max(x);
        } else {
            close(run_len);
            if at_top {
                run_start = i;
                run_len = 1;
                lo = x;
                hi = x;
            } else {
                run_len = 0;
            }
        }
    }
    close(run_len);
    clipped
}

/// Clipped share of a whole signal (no VAD): for tests and tools.
pub fn clipped_fraction(samples: &[f32]) -> f64 {
    count_clipped_samples(samples) as f64 / samples.len().max(1) as f64
}

fn frame_power(frame: &[f32]) -> f64 {
    let p = frame
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / frame.len() as f64;
    p.max(POWER_FLOOR)
}

/// Mean of the quietest `share` of `powers` (at least one).
fn quietest_mean(powers: &mut [f64], share: f64) -> f64 {
    powers.sort_by(f64::total_cmp);
    let n = ((powers.len() as f64 * share).ceil() as usize).clamp(1, powers.len());
    powers[..n].iter().sum::<f64>() / n as f64
}

/// Percentile of the speech-to-noise ratio's speech level.
pub const STNR_SPEECH_PERCENTILE: f64 = 0.95;
/// Percentile of its noise level.
pub const STNR_NOISE_PERCENTILE: f64 = 0.10;

/// Speech-to-noise ratio in dB of DC-free 16 kHz `samples`, without a VAD (see the
/// module docs): 95th over 10th percentile of the 20 ms frame powers, the noise power
/// subtracted from the speech level. Recordings shorter than one frame read 0 dB.
pub fn stnr_db(samples: &[f32]) -> f64 {
    let mut powers: Vec<f64> = samples.chunks_exact(VAD_FRAME).map(frame_power).collect();
    if powers.is_empty() {
        return 0.0;
    }
    powers.sort_by(f64::total_cmp);
    let at = |q: f64| powers[((powers.len() - 1) as f64 * q).round() as usize];
    let noise = at(STNR_NOISE_PERCENTILE);
    let signal = (at(STNR_SPEECH_PERCENTILE) - noise).max(POWER_FLOOR);
    (10.0 * (signal / noise).log10()).clamp(-MAX_SNR_DB, MAX_SNR_DB)
}

/// SNR in dB of 16 kHz `samples` whose speech is `speech` (see the module docs).
pub fn snr_db(samples: &[f32], speech: &[Range<usize>]) -> f64 {
    let mut in_speech = Vec::new();
    let mut outside = Vec::new();
    let mut all = Vec::new();
    let mut ranges = speech.iter().peekable();
    for (index, frame) in samples.chunks_exact(VAD_FRAME).enumerate() {
        let (start, end) = (index * VAD_FRAME, (index + 1) * VAD_FRAME);
        while ranges.peek().is_some_and(|r| r.end <= start) {
            ranges.next();
        }
        let power = frame_power(frame);
        all.push(power);
        match ranges.peek() {
            Some(r) if r.start <= start && end <= r.end => in_speech.push(power),
            Some(r) if end <= r.start => outside.push(power),
            None => outside.push(power),
            // Straddles a speech edge: neither.
            Some(_) => {}
        }
    }
    if in_speech.is_empty() {
        return 0.0;
    }
    let noise = if outside.is_empty() {
        quietest_mean(&mut all, 0.1)
    } else {
        quietest_mean(&mut outside, 0.5)
    };
    let speech_level = in_speech.iter().sum::<f64>() / in_speech.len() as f64;
    let signal = (speech_level - noise).max(POWER_FLOOR);
    (10.0 * (signal / noise).log10()).clamp(-MAX_SNR_DB, MAX_SNR_DB)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One speech range.
    fn one(r: Range<usize>) -> Vec<Range<usize>> {
        vec![r]
    }

    /// Deterministic uniform noise in [-1, 1) (xorshift), power 1/3.
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn sine(n: usize, freq: f32, amplitude: f32) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / 16_000.0).sin() * amplitude)
            .collect()
    }

    /// 1 s noise, 2 s (sine + noise), 1 s noise; speech = the middle 2 s.
    fn tone_in_noise(snr_db: f64) -> (Vec<f32>, Vec<Range<usize>>) {
        let amplitude = 0.3f32;
        let signal_power = f64::from(amplitude * amplitude) / 2.0;
        let noise_power = signal_power / 10f64.powf(snr_db / 10.0);
        let noise_scale = (noise_power * 3.0).sqrt() as f32;
        let mut x: Vec<f32> = noise(64_000, 7).iter().map(|v| v * noise_scale).collect();
        for (i, s) in sine(32_000, 440.0, amplitude).into_iter().enumerate() {
            x[16_000 + i] += s;
        }
        (x, one(16_000..48_000))
    }

    #[test]
    fn snr_of_a_tone_in_known_noise_is_measured_within_two_db() {
        for want in [0.0, 5.0, 10.0, 20.0, 30.0] {
            let (x, speech) = tone_in_noise(want);
            let got = snr_db(&x, &speech);
            assert!((got - want).abs() < 2.0, "want {want} dB, got {got:.1} dB");
        }
    }

    #[test]
    fn snr_without_pauses_uses_the_quietest_frames() {
        // Speech from end to end with no pause marked: 200 ms tone bursts with 100 ms
        // gaps of noise 20 dB below the tone. The quietest 10 % of frames are noise.
        let amplitude = 0.3f32;
        let noise_power = f64::from(amplitude * amplitude) / 2.0 / 100.0;
        let scale = (noise_power * 3.0).sqrt() as f32;
        let mut x: Vec<f32> = noise(48_000, 11).iter().map(|v| v * scale).collect();
        let tone = sine(48_000, 440.0, amplitude);
        for (i, v) in x.iter_mut().enumerate() {
            if i % 4_800 < 3_200 {
                *v += tone[i];
            }
        }
        let got = snr_db(&x, &one(0..x.len()));
        assert!((got - 20.0).abs() < 2.0, "{got:.1}");
    }

    #[test]
    fn stnr_falls_with_the_noise_level_even_without_pauses() {
        // Tone bursts (200 ms on, 100 ms off) in steady noise: the 10th percentile is
        // the noise, the 95th the bursts. The VAD-free measure reads the level without
        // being told where the speech is, and is monotone in the noise.
        let amplitude = 0.3f32;
        let tone = sine(48_000, 440.0, amplitude);
        let mut last = f64::INFINITY;
        for want in [30.0, 20.0, 10.0, 5.0, 0.0] {
            let noise_power = f64::from(amplitude * amplitude) / 2.0 / 10f64.powf(want / 10.0);
            let scale = (noise_power * 3.0).sqrt() as f32;
            let mut x: Vec<f32> = noise(48_000, 5).iter().map(|v| v * scale).collect();
            for (i, v) in x.iter_mut().enumerate() {
                if i % 4_800 < 3_200 {
                    *v += tone[i];
                }
            }
            let got = stnr_db(&x);
            assert!((got - want).abs() < 1.5, "want {want} dB, got {got:.1} dB");
            assert!(got < last);
            last = got;
        }
    }

    #[test]
    fn stnr_of_edge_cases_is_finite() {
        assert_eq!(stnr_db(&[]), 0.0);
        assert_eq!(stnr_db(&[0.5; 100]), 0.0);
        // Speech over digital silence: capped, not infinite.
        let mut x = vec![0.0f32; 16_000];
        x.extend(sine(16_000, 300.0, 0.3));
        assert!(stnr_db(&x) > 60.0 && stnr_db(&x) <= MAX_SNR_DB);
        // Steady noise alone: no level above the floor.
        assert!(stnr_db(&noise(32_000, 3)) < 0.0);
    }

    #[test]
    fn digital_silence_reads_as_maximal_snr() {
        let mut x = vec![0.0f32; 16_000];
        x.extend(sine(16_000, 300.0, 0.3));
        x.extend(vec![0.0f32; 16_000]);
        let got = snr_db(&x, &one(16_000..32_000));
        assert!(got > 60.0, "{got}");
    }

    #[test]
    fn hard_clipped_sine_is_flagged_and_a_clean_one_is_not() {
        let clean = sine(32_000, 220.0, 0.5);
        assert_eq!(clipped_fraction(&clean), 0.0);
        let clipped: Vec<f32> = sine(32_000, 220.0, 3.0)
            .into_iter()
            .map(|v| v.clamp(-1.0, 1.0))
            .collect();
        let f = clipped_fraction(&clipped);
        // A sine at 3× full scale is flat for 1 - 2/π·asin(1/3) ≈ 78 % of the time.
        assert!(f > 0.7 && f < 0.85, "{f}");
    }

    #[test]
    fn loud_but_unclipped_peaks_are_not_clipping() {
        // Peaks at 0.995 pass the clip level but are not flat.
        let loud = sine(32_000, 220.0, 0.995);
        assert!(loud.iter().any(|v| v.abs() >= CLIP_LEVEL));
        assert_eq!(clipped_fraction(&loud), 0.0);
        // int16 full scale, as a clipped WAV decodes.
        let full = 32_767.0 / 32_768.0;
        let clipped16: Vec<f32> = sine(32_000, 220.0, 1.5)
            .into_iter()
            .map(|v| v.clamp(-1.0, full))
            .collect();
        assert!(clipped_fraction(&clipped16) > 0.3);
    }

    #[test]
    fn clipped_mulaw_reads_as_clipped() {
        // μ-law's largest code decodes to 0.980: a clipped μ-law stream is flat there.
        let top = f32::from(crate::mulaw_to_linear(crate::linear_to_mulaw(i16::MAX))) / 32_768.0;
        assert!(top > CLIP_LEVEL && top < 0.99, "{top}");
        let coded: Vec<f32> = sine(32_000, 220.0, 3.0)
            .into_iter()
            .map(|v| {
                let pcm = (v.clamp(-1.0, 1.0) * 32_767.0) as i16;
                f32::from(crate::mulaw_to_linear(crate::linear_to_mulaw(pcm))) / 32_768.0
            })
            .collect();
        assert!(
            clipped_fraction(&coded) > 0.7,
            "{}",
            clipped_fraction(&coded)
        );
    }

    #[test]
    fn measure_quality_relates_clipping_to_speech() {
        let mut x = vec![0.0f32; 16_000];
        x.extend(sine(16_000, 220.0, 0.3));
        let q = measure_quality(&x, &one(16_000..32_000), 1_600, 16_000);
        assert!((q.net_speech_seconds - 1.0).abs() < 1e-9);
        assert!((q.clipped_fraction - 0.1).abs() < 1e-9);
        assert!(q.snr_db > 60.0);
    }
}
