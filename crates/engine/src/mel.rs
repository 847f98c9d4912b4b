//! Power mel spectrogram compatible with `librosa.feature.melspectrogram`
//! (librosa ≥ 0.10 defaults), the features of Resemblyzer's GE2E encoder.
//!
//! librosa semantics reproduced here: frames are centred (`center=True`) with
//! zero padding of `n_fft / 2` on both sides (`pad_mode="constant"`, the
//! default since librosa 0.10), a periodic Hann window of length `n_fft`,
//! power 2 magnitude, and a Slaney-scale mel filterbank with Slaney area
//! normalisation (`htk=False, norm="slaney"`, fmin 0, fmax sr/2). Unlike
//! librosa, the signal is treated as zero-extended to the right, so callers may
//! ask for any number of frames without padding the waveform themselves.
//!
//! Speed: one real FFT per frame into a (frames × bins) power matrix, then a
//! single matrix product with the filterbank.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Mel spectrogram extractor; immutable and shareable across threads.
pub struct MelSpectrogram {
    n_fft: usize,
    hop: usize,
    n_mels: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// Filterbank, row-major (n_mels × n_bins).
    filters: Vec<f32>,
}

impl std::fmt::Debug for MelSpectrogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelSpectrogram")
            .field("n_fft", &self.n_fft)
            .field("hop", &self.hop)
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

impl MelSpectrogram {
    /// Resemblyzer's features: 16 kHz, 25 ms window (n_fft 400), 10 ms hop, 40 mels.
    pub fn resemblyzer() -> Self {
        Self::new(16_000, 400, 160, 40)
    }

    /// A librosa-compatible extractor (win_length = n_fft, fmin 0, fmax sr/2).
    pub fn new(sample_rate: u32, n_fft: usize, hop: usize, n_mels: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        // scipy.signal.get_window("hann", n_fft, fftbins=True): periodic Hann.
        let window = (0..n_fft)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n_fft as f64).cos()) as f32
            })
            .collect();
        let filters = slaney_mel_filterbank(f64::from(sample_rate), n_fft, n_mels);
        Self {
            n_fft,
            hop,
            n_mels,
            fft,
            window,
            filters,
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Number of frames librosa produces for `n_samples` samples (centred).
    pub fn frames_for(&self, n_samples: usize) -> usize {
        1 + n_samples / self.hop
    }

    /// Computes the first `n_frames` frames of the spectrogram of `samples`
    /// (zero-extended as needed), row-major (n_frames × n_mels), into `out`.
    pub fn compute(&self, samples: &[f32], n_frames: usize, out: &mut Vec<f32>) {
        /// Frames per power-spectrum block: bounds memory on hour-long input.
        const BLOCK: usize = 1024;
        let n_bins = self.n_fft / 2 + 1;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; BLOCK.min(n_frames) * n_bins];
        let half = (self.n_fft / 2) as isize;
        out.clear();
        out.resize(n_frames * self.n_mels, 0.0);
        for t0 in (0..n_frames).step_by(BLOCK) {
            let frames = BLOCK.min(n_frames - t0);
            for (dt, power_row) in power[..frames * n_bins]
                .chunks_exact_mut(n_bins)
                .enumerate()
            {
                let start = ((t0 + dt) * self.hop) as isize - half;
                for (k, (x, w)) in input.iter_mut().zip(&self.window).enumerate() {
                    let j = start + k as isize;
                    *x = if j >= 0 && (j as usize) < samples.len() {
                        samples[j as usize] * w
                    } else {
                        0.0
                    };
                }
                // Lengths come from the same plan, so this cannot fail.
                if self
                    .fft
                    .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                    .is_ok()
                {
                    for (p, c) in power_row.iter_mut().zip(&spectrum) {
                        *p = c.norm_sqr();
                    }
                }
            }
            let block_out = &mut out[t0 * self.n_mels..(t0 + frames) * self.n_mels];
            // block_out (frames × mels) = power (frames × bins) · filtersᵀ (bins × mels)
            // SAFETY: the slices hold at least m·k, k·n and m·n elements for the
            // given dimensions and strides, and `block_out` aliases neither input.
            unsafe {
                matrixmultiply::sgemm(
                    frames,
                    n_bins,
                    self.n_mels,
                    1.0,
                    power.as_ptr(),
                    n_bins as isize,
                    1,
                    self.filters.as_ptr(),
                    1,
                    n_bins as isize,
                    0.0,
                    block_out.as_mut_ptr(),
                    self.n_mels as isize,
                    1,
                );
            }
        }
    }
}

fn hz_to_mel_slaney(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz_slaney(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// `librosa.filters.mel(sr, n_fft, n_mels, htk=False, norm="slaney")`, computed
/// in f64 and stored as f32 like librosa's default dtype. Row-major (n_mels × bins).
pub fn slaney_mel_filterbank(sample_rate: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let fmax = sample_rate / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|i| fmax * i as f64 / (n_bins - 1) as f64)
        .collect();
    let (mel_lo, mel_hi) = (hz_to_mel_slaney(0.0), hz_to_mel_slaney(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz_slaney(mel_lo + (mel_hi - mel_lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let (lo, centre, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (hi - lo);
        for (b, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - lo) / (centre - lo);
            let upper = (hi - f) / (hi - centre);
            weights[m * n_bins + b] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filterbank_matches_librosa_values() {
        // librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): a few entries
        // computed from librosa's formulas by hand (slaney scale is linear below 1 kHz).
        let fb = slaney_mel_filterbank(16000.0, 400, 40);
        let n_bins = 201;
        // First filter: mel points 0, Δ, 2Δ with Δ = mel(8000)/41; linear region.
        let mel_hi = hz_to_mel_slaney(8000.0);
        let d_hz = mel_hi / 41.0 * 200.0 / 3.0; // width of one step in Hz (linear part)
        let enorm = 2.0 / (2.0 * d_hz);
        let f1 = 40.0; // bin 1 = 40 Hz
        let expect = (f1 / d_hz).min((2.0 * d_hz - f1) / d_hz).max(0.0) * enorm;
        assert!(
            (f64::from(fb[1]) - expect).abs() < 1e-6,
            "{} vs {}",
            fb[1],
            expect
        );
        assert_eq!(fb[0], 0.0);
        // Every filter is non-empty and non-negative.
        for m in 0..40 {
            let row = &fb[m * n_bins..(m + 1) * n_bins];
            assert!(row.iter().all(|&w| w >= 0.0));
            assert!(row.iter().any(|&w| w > 0.0), "empty filter {m}");
        }
    }

    #[test]
    fn mel_round_trip() {
        for hz in [0.0, 300.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz_slaney(hz_to_mel_slaney(hz)) - hz).abs() < 1e-9);
        }
    }

    #[test]
    fn sine_energy_lands_in_the_right_band_with_parseval_scale() {
        let mel = MelSpectrogram::resemblyzer();
        // 1 kHz sine = exactly bin 25 of a 400-point FFT at 16 kHz.
        let x: Vec<f32> = (0..16000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin())
            .collect();
        let mut out = Vec::new();
        let n = mel.frames_for(x.len());
        assert_eq!(n, 101);
        mel.compute(&x, n, &mut out);
        let frame = &out[50 * 40..51 * 40];
        let (best, _) = frame
            .iter()
            .enumerate()
            .fold((0, 0f32), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        let centres: Vec<f64> = (0..42)
            .map(|i| mel_to_hz_slaney(hz_to_mel_slaney(8000.0) * i as f64 / 41.0))
            .collect();
        let nearest = (1..41)
            .min_by(|&a, &b| {
                (centres[a] - 1000.0)
                    .abs()
                    .total_cmp(&(centres[b] - 1000.0).abs())
            })
            .unwrap()
            - 1;
        assert_eq!(best, nearest);
        // A unit sine on bin 25 under a periodic Hann window: |X[25]|² = (N/4)² =
        // 10000 and the main lobe's neighbours |X[24]|² = |X[26]|² = (N/8)² = 2500.
        let fb = slaney_mel_filterbank(16000.0, 400, 40);
        let row = &fb[best * 201..];
        let expect = 10000.0 * row[25] + 2500.0 * (row[24] + row[26]);
        assert!(
            (frame[best] / expect - 1.0).abs() < 1e-3,
            "{} vs {}",
            frame[best],
            expect
        );
    }

    #[test]
    fn blocked_computation_matches_a_naive_per_frame_one() {
        // More than one 1024-frame block, compared frame by frame with a
        // direct DFT and filterbank dot products in f64.
        let mel = MelSpectrogram::resemblyzer();
        let x: Vec<f32> = (0..200_000)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5)
            .collect();
        let n = mel.frames_for(x.len());
        assert!(n > 1024);
        let mut all = Vec::new();
        mel.compute(&x, n, &mut all);
        let fb = slaney_mel_filterbank(16000.0, 400, 40);
        for t in [0usize, 1, 1023, 1024, 1025, n - 1] {
            let frame: Vec<f64> = (0..400)
                .map(|k| {
                    let j = (t * 160 + k) as isize - 200;
                    let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / 400.0).cos();
                    if j >= 0 && (j as usize) < x.len() {
                        f64::from(x[j as usize]) * w
                    } else {
                        0.0
                    }
                })
                .collect();
            let power: Vec<f64> = (0..201)
                .map(|b| {
                    let (mut re, mut im) = (0.0, 0.0);
                    for (k, v) in frame.iter().enumerate() {
                        let ang = -2.0 * std::f64::consts::PI * (b * k) as f64 / 400.0;
                        re += v * ang.cos();
                        im += v * ang.sin();
                    }
                    re * re + im * im
                })
                .collect();
            for m in 0..40 {
                let want: f64 = (0..201)
                    .map(|b| f64::from(fb[m * 201 + b]) * power[b])
                    .sum();
                let got = f64::from(all[t * 40 + m]);
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs() + 1e-6,
                    "frame {t} mel {m}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn frames_past_the_end_are_zero_padded() {
        let mel = MelSpectrogram::resemblyzer();
        let x = vec![0.5f32; 800];
        let mut out = Vec::new();
        mel.compute(&x, 20, &mut out);
        assert_eq!(out.len(), 800);
        assert!(out[19 * 40..].iter().all(|&v| v == 0.0));
        assert!(out[..40].iter().any(|&v| v > 0.0));
    }
}
