//! Kaldi-compatible log mel filterbank, matching
//! `torchaudio.compliance.kaldi.fbank` with its defaults and `dither=0`: the
//! features of 3D-Speaker's CAM++.
//!
//! Per frame (25 ms = 400 samples, 10 ms shift, `snip_edges`, so
//! `1 + (n - 400) / 160` frames): remove the frame's DC offset, pre-emphasis
//! 0.97 (the first sample is its own predecessor), Povey window
//! (`hann(periodic=False)^0.85`), zero-pad to 512, power spectrum, 80
//! triangular filters on Kaldi's mel scale (`1127 ln(1 + f/700)`, 20 Hz to
//! Nyquist, 257th FFT bin unused), `ln(max(energy, f32::EPSILON))`.
//! The waveform is used at the scale given: CAM++'s reference feeds samples
//! in [-1, 1], not Kaldi's int16 range, and the log floor makes the two differ.
//!
//! Not here: dithering, energy features, VTLN, and resampling (input is 16 kHz).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

const SAMPLE_RATE: f64 = 16_000.0;
/// 25 ms at 16 kHz.
pub const FRAME_LENGTH: usize = 400;
/// 10 ms at 16 kHz.
pub const FRAME_SHIFT: usize = 160;
/// FFT size: the frame length rounded up to a power of two.
const PADDED_LENGTH: usize = 512;
const PREEMPHASIS: f32 = 0.97;
const LOW_FREQ: f64 = 20.0;

/// One mel filter: its first FFT bin and its weights from there on.
#[derive(Debug, Clone)]
struct MelFilter {
    first_bin: usize,
    weights: Vec<f32>,
}

/// Log mel filterbank extractor; immutable and shareable across threads.
pub struct KaldiFbank {
    num_bins: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<MelFilter>,
}

impl std::fmt::Debug for KaldiFbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KaldiFbank")
            .field("num_bins", &self.num_bins)
            .finish()
    }
}

/// Kaldi's mel scale.
pub fn mel_scale(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

impl KaldiFbank {
    /// 16 kHz, `num_bins` mel bins (CAM++ uses 80).
    pub fn new(num_bins: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(PADDED_LENGTH);
        // torch.hann_window(400, periodic=False).pow(0.85), computed in f32 by torch.
        let window = (0..FRAME_LENGTH)
            .map(|i| {
                let a = 2.0 * std::f64::consts::PI / (FRAME_LENGTH - 1) as f64;
                (0.5 - 0.5 * (a * i as f64).cos()).powf(0.85) as f32
            })
            .collect();
        Self {
            num_bins,
            fft,
            window,
            filters: mel_filters(num_bins),
        }
    }

    /// Number of mel bins per frame.
    pub fn num_bins(&self) -> usize {
        self.num_bins
    }

    /// Frames produced for `num_samples` samples (Kaldi's `snip_edges=true`).
    pub fn num_frames(num_samples: usize) -> usize {
        if num_samples < FRAME_LENGTH {
            0
        } else {
            1 + (num_samples - FRAME_LENGTH) / FRAME_SHIFT
        }
    }

    /// Log mel energies, row-major (frames × bins), written into `out`
    /// (resized; its allocation is reused). Returns the number of frames.
    pub fn compute_into(&self, samples: &[f32], out: &mut Vec<f32>) -> usize {
        let frames = Self::num_frames(samples.len());
        out.clear();
        out.resize(frames * self.num_bins, 0.0);
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; spectrum.len()];
        for (f, row) in out.chunks_exact_mut(self.num_bins).enumerate() {
            let src = &samples[f * FRAME_SHIFT..f * FRAME_SHIFT + FRAME_LENGTH];
            self.windowed_frame(src, &mut frame);
            // Cannot fail: buffers come from this plan.
            let _ = self
                .fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch);
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = power_of(*c);
            }
            for (value, filter) in row.iter_mut().zip(&self.filters) {
                let energy: f32 = filter
                    .weights
                    .iter()
                    .zip(&power[filter.first_bin..])
                    .map(|(w, p)| w * p)
                    .sum();
                *value = energy.max(f32::EPSILON).ln();
            }
        }
        frames
    }

    /// [`Self::compute_into`] into a fresh vector.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        self.compute_into(samples, &mut out);
        out
    }

    /// DC removal, pre-emphasis, window and zero padding of one frame.
    fn windowed_frame(&self, src: &[f32], dst: &mut [f32]) {
        let mean = src.iter().sum::<f32>() / FRAME_LENGTH as f32;
        let mut previous = src[0] - mean;
        for ((d, &s), &w) in dst.iter_mut().zip(src).zip(&self.window) {
            let x = s - mean;
            *d = (x - PREEMPHASIS * previous) * w;
            previous = x;
        }
        dst[FRAME_LENGTH..].fill(0.0);
    }
}

fn power_of(c: Complex<f32>) -> f32 {
    c.re * c.re + c.im * c.im
}

/// Subtracts each bin's mean over frames (CAM++'s per-utterance mean
/// normalisation) from a row-major (frames × bins) matrix.
pub fn subtract_mean_over_frames(features: &mut [f32], num_bins: usize) {
    let frames = features.len() / num_bins;
    if frames == 0 {
        return;
    }
    let mut mean = vec![0.0f64; num_bins];
    for row in features.chunks_exact(num_bins) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / frames as f64) as f32).collect();
    for row in features.chunks_exact_mut(num_bins) {
        for (v, m) in row.iter_mut().zip(&mean) {
            *v -= m;
        }
    }
}

/// Kaldi's triangular filters (`get_mel_banks` without VTLN) over the first
/// `PADDED_LENGTH / 2` FFT bins, stored sparsely.
fn mel_filters(num_bins: usize) -> Vec<MelFilter> {
    let fft_bins = PADDED_LENGTH / 2;
    let bin_width = SAMPLE_RATE / PADDED_LENGTH as f64;
    let mel_low = mel_scale(LOW_FREQ);
    let mel_high = mel_scale(SAMPLE_RATE / 2.0);
    let delta = (mel_high - mel_low) / (num_bins + 1) as f64;
    (0..num_bins)
        .map(|m| {
            let left = mel_low + m as f64 * delta;
            let center = left + delta;
            let right = center + delta;
            let dense: Vec<f32> = (0..fft_bins)
                .map(|i| {
                    let mel = mel_scale(bin_width * i as f64);
                    let up = (mel - left) / (center - left);
                    let down = (right - mel) / (right - center);
                    up.min(down).max(0.0) as f32
                })
                .collect();
            let first_bin = dense.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last_bin = dense.iter().rposition(|&w| w > 0.0).unwrap_or(0);
            MelFilter {
                first_bin,
                weights: dense[first_bin..=last_bin.max(first_bin)].to_vec(),
            }
        })
        .collect()
}

/// Centre frequency in Hz of mel bin `m` of an `num_bins`-bin bank (for tests
/// and diagnostics).
pub fn bin_center_hz(m: usize, num_bins: usize) -> f64 {
    let mel_low = mel_scale(LOW_FREQ);
    let delta = (mel_scale(SAMPLE_RATE / 2.0) - mel_low) / (num_bins + 1) as f64;
    let mel = mel_low + (m + 1) as f64 * delta;
    700.0 * ((mel / 1127.0).exp() - 1.0)
}
