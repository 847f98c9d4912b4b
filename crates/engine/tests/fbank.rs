//! Kaldi fbank (CAM++ features) against facts that can be checked without
//! torchaudio: frame counts, where a pure tone's energy lands, the log floor,
//! the effect of scaling, mean normalisation, and one frame recomputed by a
//! naive f64 DFT written here independently of the crate's FFT path.

use voiceprint_engine::fbank::{
    bin_center_hz, mel_scale, subtract_mean_over_frames, KaldiFbank, FRAME_LENGTH, FRAME_SHIFT,
};

const BINS: usize = 80;

fn tone(hz: f64, amplitude: f64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / 16_000.0).sin()) as f32)
        .collect()
}

/// Deterministic pseudo-random samples in [-0.5, 0.5).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

#[test]
fn frame_count_follows_snip_edges() {
    assert_eq!(KaldiFbank::num_frames(0), 0);
    assert_eq!(KaldiFbank::num_frames(399), 0);
    assert_eq!(KaldiFbank::num_frames(400), 1);
    assert_eq!(KaldiFbank::num_frames(559), 1);
    assert_eq!(KaldiFbank::num_frames(560), 2);
    assert_eq!(KaldiFbank::num_frames(16_000), 98);
    let fbank = KaldiFbank::new(BINS);
    for n in [0usize, 399, 400, 1234, 16_000] {
        let feats = fbank.compute(&noise(n, 1));
        let expected = if n < 400 { 0 } else { 1 + (n - 400) / 160 };
        assert_eq!(feats.len(), expected * BINS, "n = {n}");
    }
}

#[test]
fn pure_tone_peaks_in_the_nearest_mel_bin() {
    let fbank = KaldiFbank::new(BINS);
    for hz in [300.0, 1000.0, 2500.0, 6000.0] {
        let feats = fbank.compute(&tone(hz, 0.5, 16_000));
        let frame = &feats[10 * BINS..11 * BINS];
        let peak = (0..BINS)
            .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
            .unwrap();
        let nearest = (0..BINS)
            .min_by(|&a, &b| {
                (bin_center_hz(a, BINS) - hz)
                    .abs()
                    .total_cmp(&(bin_center_hz(b, BINS) - hz).abs())
            })
            .unwrap();
        assert!(
            peak.abs_diff(nearest) <= 1,
            "{hz} Hz peaked in bin {peak} (centre {:.0} Hz), nearest bin is {nearest}",
            bin_center_hz(peak, BINS)
        );
        // Far-away bins hold orders of magnitude less energy.
        let far = if nearest > 40 { 0 } else { BINS - 1 };
        assert!(frame[peak] - frame[far] > 5.0, "{hz} Hz: no clear peak");
    }
}

#[test]
fn constant_signal_is_removed_and_floored_at_epsilon() {
    // DC removal per frame leaves nothing; every bin sits at ln(f32::EPSILON).
    let feats = KaldiFbank::new(BINS).compute(&vec![0.25f32; 4000]);
    let floor = f32::EPSILON.ln();
    assert!((floor + 15.942385).abs() < 1e-5);
    assert!(
        feats.iter().all(|&v| (v - floor).abs() < 1e-4),
        "{:?}",
        &feats[..4]
    );
}

#[test]
fn doubling_the_waveform_adds_ln4() {
    let fbank = KaldiFbank::new(BINS);
    let x = noise(8000, 7);
    let doubled: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
    let a = fbank.compute(&x);
    let b = fbank.compute(&doubled);
    for (u, v) in a.iter().zip(&b) {
        assert!((v - u - 4f32.ln()).abs() < 1e-3, "{u} -> {v}");
    }
}

#[test]
fn mean_normalisation_zeroes_every_bin_mean() {
    let mut feats = KaldiFbank::new(BINS).compute(&noise(16_000, 3));
    let frames = feats.len() / BINS;
    subtract_mean_over_frames(&mut feats, BINS);
    for bin in 0..BINS {
        let mean: f32 = (0..frames).map(|f| feats[f * BINS + bin]).sum::<f32>() / frames as f32;
        assert!(mean.abs() < 1e-4, "bin {bin}: mean {mean}");
    }
}

#[test]
fn kaldi_mel_scale() {
    assert!((mel_scale(700.0) - 1127.0 * 2f64.ln()).abs() < 1e-9);
    assert_eq!(mel_scale(0.0), 0.0);
}

/// The Kaldi recipe for one frame, straight from its definition in f64 with a
/// naive DFT: remove DC, pre-emphasise (x[-1] = x[0]), Povey window, pad to
/// 512, power, triangular mel filters from 20 Hz to 8 kHz, log.
fn naive_frame(frame: &[f32]) -> Vec<f64> {
    let n = FRAME_LENGTH;
    let mean = frame.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let x: Vec<f64> = frame.iter().map(|&v| f64::from(v) - mean).collect();
    let mut padded = vec![0.0f64; 512];
    for i in 0..n {
        let prev = if i == 0 { x[0] } else { x[i - 1] };
        let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos();
        padded[i] = (x[i] - 0.97 * prev) * hann.powf(0.85);
    }
    let power: Vec<f64> = (0..256)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (i, v) in padded.iter().enumerate() {
                let phase = -2.0 * std::f64::consts::PI * (k * i) as f64 / 512.0;
                re += v * phase.cos();
                im += v * phase.sin();
            }
            re * re + im * im
        })
        .collect();
    let (lo, hi) = (mel_scale(20.0), mel_scale(8000.0));
    let delta = (hi - lo) / (BINS + 1) as f64;
    (0..BINS)
        .map(|m| {
            let (l, c, r) = (
                lo + m as f64 * delta,
                lo + (m + 1) as f64 * delta,
                lo + (m + 2) as f64 * delta,
            );
            let energy: f64 = (0..256)
                .map(|k| {
                    let mel = mel_scale(31.25 * k as f64);
                    let w = ((mel - l) / (c - l)).min((r - mel) / (r - c)).max(0.0);
                    w * power[k]
                })
                .sum();
            energy.max(f64::from(f32::EPSILON)).ln()
        })
        .collect()
}

#[test]
fn matches_a_naive_implementation_of_the_recipe() {
    let x = noise(400 + 3 * FRAME_SHIFT, 11);
    let feats = KaldiFbank::new(BINS).compute(&x);
    assert_eq!(feats.len(), 4 * BINS);
    for f in [0, 3] {
        let expected = naive_frame(&x[f * FRAME_SHIFT..f * FRAME_SHIFT + FRAME_LENGTH]);
        for (bin, (&ours, want)) in feats[f * BINS..(f + 1) * BINS]
            .iter()
            .zip(&expected)
            .enumerate()
        {
            assert!(
                (f64::from(ours) - want).abs() < 2e-3,
                "frame {f} bin {bin}: {ours} vs {want}"
            );
        }
    }
}
