//! Sample-rate conversion with rubato's synchronous FFT resampler.
//!
//! Why `Fft`: the ratio is fixed per file, and it is both the fastest and the best
//! anti-aliased of rubato's resamplers (Blackman-Harris windowed, cut-off just below the
//! lower Nyquist). Equal rates pass through untouched.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::decode::{MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
use crate::AudioError;

/// Frames per resampler chunk: a compromise between FFT size and per-call overhead.
const CHUNK_FRAMES: usize = 1024;

/// Resamples mono `samples` from `from` Hz to `to` Hz.
///
/// Output length is `len * to / from` (rounded), aligned with the input (the filter
/// delay is trimmed). Rates outside 4 kHz–384 kHz are [`AudioError::BadSampleRate`].
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    for rate in [from, to] {
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
            return Err(AudioError::BadSampleRate(rate));
        }
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let mut resampler =
        Fft::<f32>::new(from as usize, to as usize, CHUNK_FRAMES, 1, FixedSync::Both)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
    let input = InterleavedSlice::new(samples, 1, samples.len())
        .map_err(|e| AudioError::Resample(e.to_string()))?;
    let output = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|e| AudioError::Resample(e.to_string()))?;
    Ok(output.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    /// RMS over the middle of a signal, away from edge transients.
    fn mid_rms(x: &[f32]) -> f32 {
        rms(&x[x.len() / 10..x.len() * 9 / 10])
    }

    #[test]
    fn a_6_khz_tone_at_48_khz_survives_and_a_12_khz_tone_is_removed() {
        let kept = resample(&tone(6_000.0, 48_000, 1.0), 48_000, 16_000).unwrap();
        assert_eq!(kept.len(), 16_000);
        let kept_rms = mid_rms(&kept);
        assert!(
            (kept_rms - 0.5 / 2f32.sqrt()).abs() < 0.01,
            "6 kHz rms {kept_rms}"
        );

        let removed = resample(&tone(12_000.0, 48_000, 1.0), 48_000, 16_000).unwrap();
        let attenuation_db = 20.0 * (mid_rms(&removed) / (0.5 / 2f32.sqrt())).log10();
        assert!(
            attenuation_db < -40.0,
            "12 kHz attenuated only {attenuation_db:.1} dB"
        );
    }

    #[test]
    fn upsampling_8_khz_keeps_the_waveform_in_place() {
        let input = tone(440.0, 8_000, 1.0);
        let up = resample(&input, 8_000, 16_000).unwrap();
        assert_eq!(up.len(), 16_000);
        // Every second output sample is at an input instant: no delay, same value.
        let max_err = (1_000..7_000)
            .map(|i| (up[2 * i] - input[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(max_err < 0.01, "max error {max_err}");
    }

    #[test]
    fn odd_rates_resample_to_the_expected_length() {
        for rate in [11_025u32, 22_050, 44_100, 7_999] {
            let out = resample(&tone(300.0, rate, 0.5), rate, 16_000).unwrap();
            let expected = (0.5 * 16_000.0) as usize;
            assert!(out.len().abs_diff(expected) <= 2, "{rate}: {}", out.len());
            assert!((mid_rms(&out) - 0.5 / 2f32.sqrt()).abs() < 0.02, "{rate}");
        }
    }

    #[test]
    fn equal_rates_pass_through_and_absurd_rates_are_refused() {
        let x = tone(1_000.0, 16_000, 0.1);
        assert_eq!(resample(&x, 16_000, 16_000).unwrap(), x);
        for bad in [0u32, 1, 10_000_000] {
            assert!(
                matches!(resample(&x, bad, 16_000), Err(AudioError::BadSampleRate(r)) if r == bad)
            );
        }
    }
}
