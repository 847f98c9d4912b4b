//! GE2E speaker encoder (Resemblyzer 0.1.4's `VoiceEncoder`), 256-d.
//!
//! Port of `resemblyzer/voice_encoder.py`: 40-band power mel spectrogram
//! ([`crate::mel`]), 160-frame partial windows at 1.3 partials per second
//! (`compute_partial_slices`, ported exactly with its zero padding), a 3-layer
//! LSTM(40→256→256→256) whose final hidden state goes through Linear(256) +
//! ReLU + L2 normalisation per partial, then the L2-normalised mean of the
//! partial embeddings. It does not do Resemblyzer's `preprocess_wav` (volume
//! normalisation, VAD trimming): the audio crate's front end owns that.
//!
//! Key design decision: all partials of an utterance run through the LSTM
//! together, time-major. Each layer's input projection for every frame of
//! every partial is one GEMM; the recurrence then does one small product per
//! time step over all partials, writing into buffers allocated once per call.
//! The work is compute-bound (≈ 216 M multiply-adds per partial, ≈ 1.3 partials
//! per audio second), so the products run in register-blocked AVX-512/AVX2
//! kernels chosen at run time. [`Precision::F32`] (the default) reproduces the
//! reference to cosine 1.000000; [`Precision::Bf16`] (AVX-512 BF16 products with
//! f32 accumulation, cosine ≥ 0.9999) is opt-in: on the 2-core Sapphire Rapids
//! development machine it measured 25–30 % *slower* than f32 (RTF 0.0057 vs
//! 0.0044 on 20 LibriSpeech files, examples/throughput.rs), so it is not chosen
//! automatically.

use std::collections::HashMap;
use std::path::Path;

use crate::mel::MelSpectrogram;
use crate::torch_legacy::{self, Tensor};
use crate::{Embedder, EngineError, ModelId};

/// Frames per partial utterance (`partials_n_frames`, 1.6 s).
pub const PARTIAL_FRAMES: usize = 160;
/// Partial utterances per second (`embed_utterance`'s default `rate`).
pub const PARTIALS_PER_SECOND: f64 = 1.3;
/// Minimum share of the last partial that must be real audio to keep it.
pub const MIN_COVERAGE: f64 = 0.75;
const SAMPLE_RATE: f64 = 16_000.0;
const HIDDEN: usize = 256;
const GATES: usize = 4 * HIDDEN;
const EMBEDDING: usize = 256;
const N_MELS: usize = 40;
const LAYERS: usize = 3;
/// Partials per LSTM batch (see `embed_with_partials`).
const MAX_BATCH: usize = 32;

struct LstmLayer {
    input: usize,
    /// (4·hidden × input), PyTorch gate order i, f, g, o.
    w_ih: Vec<f32>,
    /// W_hhᵀ packed in panels of [`kernels::PANEL`] gate columns
    /// (see [`kernels::pack_panels`]), so the recurrent kernel reads it sequentially.
    w_hh_panels: Vec<f32>,
    /// b_ih + b_hh, folded at load.
    bias: Vec<f32>,
    /// bf16 copies of W_ih and W_hh for [`Precision::Bf16`] (empty otherwise).
    w_ih_bf16: bf16::Panels,
    w_hh_bf16: bf16::Panels,
}

/// Arithmetic used by the LSTM's matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// f32 throughout: the reference's arithmetic.
    F32,
    /// bf16 weights and activations in the LSTM's products with f32
    /// accumulation (AVX-512 BF16 dot products), about twice the f32 speed.
    /// Cosine with the f32 embedding stays above 0.9999 on the parity files.
    Bf16,
}

impl Precision {
    /// The lowest precision this CPU supports (bf16 where AVX-512 BF16 exists).
    /// Lower is not always faster: measure with examples/throughput.rs.
    pub fn fastest_supported() -> Precision {
        if bf16::supported() {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }
}

/// The GE2E encoder with its weights; immutable, shareable across threads.
pub struct Ge2e {
    precision: Precision,
    /// Threads one utterance's partials are spread over (1 = caller's thread).
    threads: usize,
    mel: MelSpectrogram,
    layers: Vec<LstmLayer>,
    /// (embedding × hidden).
    linear_w: Vec<f32>,
    linear_b: Vec<f32>,
}

impl std::fmt::Debug for Ge2e {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ge2e")
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl Ge2e {
    /// Loads Resemblyzer's `pretrained.pt` (legacy torch serialization).
    pub fn load(path: &Path) -> Result<Ge2e, EngineError> {
        let state = torch_legacy::load_state_dict(path)
            .map_err(|e| EngineError::Weights(format!("{}: {e}", path.display())))?;
        Self::from_state_dict(&state)
    }

    /// Builds the model from a state dict with Resemblyzer's tensor names.
    pub fn from_state_dict(state: &HashMap<String, Tensor>) -> Result<Ge2e, EngineError> {
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, EngineError> {
            let t = state
                .get(name)
                .ok_or_else(|| EngineError::Weights(format!("GE2E weights lack `{name}`")))?;
            if t.shape != shape {
                return Err(EngineError::Weights(format!(
                    "GE2E `{name}` has shape {:?}, expected {shape:?}",
                    t.shape
                )));
            }
            if t.data.iter().any(|x| !x.is_finite()) {
                return Err(EngineError::Weights(format!(
                    "GE2E `{name}` holds non-finite values"
                )));
            }
            Ok(t.data.clone())
        };
        let mut layers = Vec::with_capacity(LAYERS);
        for l in 0..LAYERS {
            let input = if l == 0 { N_MELS } else { HIDDEN };
            let b_ih = get(&format!("lstm.bias_ih_l{l}"), &[GATES])?;
            let b_hh = get(&format!("lstm.bias_hh_l{l}"), &[GATES])?;
            let w_ih = get(&format!("lstm.weight_ih_l{l}"), &[GATES, input])?;
            let w_hh = get(&format!("lstm.weight_hh_l{l}"), &[GATES, HIDDEN])?;
            layers.push(LstmLayer {
                input,
                w_ih_bf16: bf16::Panels::pack(&w_ih, GATES, input),
                w_hh_bf16: bf16::Panels::pack(&w_hh, GATES, HIDDEN),
                w_ih,
                w_hh_panels: kernels::pack_panels(&transpose(&w_hh, GATES, HIDDEN)),
                bias: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
            });
        }
        Ok(Ge2e {
            // Measured faster than bf16 (module docs); bf16 stays opt-in.
            precision: Precision::F32,
            threads: 1,
            mel: MelSpectrogram::resemblyzer(),
            layers,
            linear_w: get("linear.weight", &[EMBEDDING, HIDDEN])?,
            linear_b: get("linear.bias", &[EMBEDDING])?,
        })
    }

    /// Chooses the arithmetic; [`Precision::Bf16`] falls back to f32 on CPUs
    /// without AVX-512 BF16. Returns the precision now in use.
    pub fn set_precision(&mut self, precision: Precision) -> Precision {
        self.precision = if precision == Precision::Bf16 && !bf16::supported() {
            Precision::F32
        } else {
            precision
        };
        self.precision
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Spreads one utterance's partial windows over `threads` threads (at
    /// least 1). Worth it for long recordings and latency; batch work is
    /// better parallelised across utterances.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Embeds an utterance and also returns each partial's embedding and start frame.
    pub fn embed_with_partials(
        &self,
        samples_16k: &[f32],
    ) -> Result<UtteranceEmbedding, EngineError> {
        if samples_16k.is_empty() {
            return Err(EngineError::TooShort(
                "GE2E needs at least one sample".into(),
            ));
        }
        if samples_16k.iter().any(|x| !x.is_finite()) {
            return Err(EngineError::Inference(
                "audio holds NaN or infinite samples".into(),
            ));
        }
        let starts = partial_starts(samples_16k.len());
        let n_frames = starts.last().map_or(0, |s| s + PARTIAL_FRAMES);
        let mut mel = Vec::new();
        self.mel.compute(samples_16k, n_frames, &mut mel);
        // Batches of partials bound the working memory (gate buffer ≈ 650 KB
        // per partial) on long recordings and are the unit of threading.
        let batch = MAX_BATCH.min(starts.len().div_ceil(self.threads)).max(1);
        let mut partials = vec![0f32; starts.len() * EMBEDDING];
        let jobs: Vec<(&[usize], &mut [f32])> = starts
            .chunks(batch)
            .zip(partials.chunks_mut(batch * EMBEDDING))
            .collect();
        if self.threads == 1 || jobs.len() == 1 {
            for (batch_starts, out) in jobs {
                self.forward_partials(&mel, batch_starts, out);
            }
        } else {
            let workers = self.threads.min(jobs.len());
            let queue = std::sync::Mutex::new(jobs.into_iter());
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| loop {
                        // A poisoned lock means a sibling panicked; stop taking work.
                        let job = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(_) => None,
                        };
                        let Some((batch_starts, out)) = job else {
                            break;
                        };
                        self.forward_partials(&mel, batch_starts, out);
                    });
                }
            });
        }

        let mut mean = vec![0f32; EMBEDDING];
        for row in partials.chunks_exact(EMBEDDING) {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        l2_normalise(&mut mean)?;
        Ok(UtteranceEmbedding {
            embedding: mean,
            partials,
            partial_starts: starts,
        })
    }

    /// Runs the network on the partial windows of `mel` (frames × 40)
    /// starting at `starts`; writes L2-normalised embeddings (partials × 256) to `emb`.
    fn forward_partials(&self, mel: &[f32], starts: &[usize], emb: &mut [f32]) {
        let p = starts.len();
        let rows = PARTIAL_FRAMES * p;
        // Time-major input: row t·P + k is frame starts[k] + t.
        let mut x = vec![0f32; rows * N_MELS];
        for t in 0..PARTIAL_FRAMES {
            for (k, &s) in starts.iter().enumerate() {
                let src = &mel[(s + t) * N_MELS..(s + t + 1) * N_MELS];
                x[(t * p + k) * N_MELS..(t * p + k + 1) * N_MELS].copy_from_slice(src);
            }
        }
        let mut gates = vec![0f32; rows * GATES];
        let mut h = vec![0f32; rows * HIDDEN];
        let mut c = vec![0f32; p * HIDDEN];
        let use_bf16 = self.precision == Precision::Bf16;
        let mut scratch = Vec::new();
        for layer in &self.layers {
            let input: &[f32] = if layer.input == N_MELS { &x } else { &h };
            // gates = input · W_ihᵀ + bias, for all frames of all partials at once.
            if use_bf16 {
                let bias = Some(layer.bias.as_slice());
                bf16::gemm_acc(input, &layer.w_ih_bf16, bias, &mut gates, &mut scratch);
            } else {
                for row in gates.chunks_exact_mut(GATES) {
                    row.copy_from_slice(&layer.bias);
                }
                sgemm_bt(
                    rows,
                    layer.input,
                    GATES,
                    input,
                    &layer.w_ih,
                    &mut gates,
                    1.0,
                );
            }
            // The layer's output overwrites its input, so keep a copy only
            // while h is both (layers 2 and 3).
            let mut out = std::mem::take(&mut h);
            out.resize(rows * HIDDEN, 0.0);
            c.fill(0.0);
            for t in 0..PARTIAL_FRAMES {
                let g = &mut gates[t * p * GATES..(t + 1) * p * GATES];
                if t > 0 {
                    let (prev, _) = out.split_at(t * p * HIDDEN);
                    let h_prev = &prev[(t - 1) * p * HIDDEN..];
                    if use_bf16 {
                        bf16::gemm_acc(h_prev, &layer.w_hh_bf16, None, g, &mut scratch);
                    } else {
                        kernels::recurrent(h_prev, &layer.w_hh_panels, g);
                    }
                }
                let h_t = &mut out[t * p * HIDDEN..(t + 1) * p * HIDDEN];
                kernels::lstm_cell(g, &mut c, h_t);
            }
            h = out;
        }
        // Final hidden state of the last layer → Linear → ReLU → L2 norm.
        let last = &h[(PARTIAL_FRAMES - 1) * p * HIDDEN..];
        for row in emb.chunks_exact_mut(EMBEDDING) {
            row.copy_from_slice(&self.linear_b);
        }
        sgemm_bt(p, HIDDEN, EMBEDDING, last, &self.linear_w, emb, 1.0);
        for row in emb.chunks_exact_mut(EMBEDDING) {
            row.iter_mut().for_each(|v| *v = v.max(0.0));
            // An all-zero partial stays zero, as torch would give NaN; the
            // mean over partials is checked instead.
            let _ = l2_normalise(row);
        }
    }
}

/// An utterance embedding with the partial embeddings it averages.
#[derive(Debug, Clone, PartialEq)]
pub struct UtteranceEmbedding {
    /// L2-normalised mean of the partial embeddings (256).
    pub embedding: Vec<f32>,
    /// L2-normalised partial embeddings, row-major (partials × 256).
    pub partials: Vec<f32>,
    /// First mel frame of each partial (frames are 10 ms apart).
    pub partial_starts: Vec<usize>,
}

impl Embedder for Ge2e {
    fn model_id(&self) -> ModelId {
        "ge2e"
    }

    fn dim(&self) -> usize {
        EMBEDDING
    }

    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError> {
        self.embed_with_partials(samples_16k).map(|u| u.embedding)
    }
}

/// Start frames of the partial windows, exactly as Resemblyzer's
/// `compute_partial_slices(n_samples, rate=1.3, min_coverage=0.75)`; each
/// window spans frames `start..start + 160` (samples `160·start..`). The
/// waveform is implicitly zero-padded to the last window's end.
pub fn partial_starts(n_samples: usize) -> Vec<usize> {
    let samples_per_frame = 160usize;
    let n_frames = (n_samples + 1).div_ceil(samples_per_frame);
    let frame_step =
        ((SAMPLE_RATE / PARTIALS_PER_SECOND) / samples_per_frame as f64).round() as usize;
    let steps = (n_frames + frame_step + 1)
        .saturating_sub(PARTIAL_FRAMES)
        .max(1);
    let mut starts: Vec<usize> = (0..steps).step_by(frame_step).collect();
    if let Some(&last) = starts.last() {
        let start = (last * samples_per_frame) as f64;
        let span = (PARTIAL_FRAMES * samples_per_frame) as f64;
        let coverage = (n_samples as f64 - start) / span;
        if coverage < MIN_COVERAGE && starts.len() > 1 {
            starts.pop();
        }
    }
    starts
}

fn l2_normalise(v: &mut [f32]) -> Result<(), EngineError> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(EngineError::Inference(
            "embedding has zero or non-finite norm".into(),
        ));
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Ok(())
}

fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// The per-time-step hot loops, compiled twice: for AVX2+FMA (chosen at run
/// time) and for the baseline target. Written as plain loops over fixed-size
/// blocks so the compiler vectorises them; no intrinsics, no `unsafe` beyond
/// calling the `target_feature` variant after detecting the feature.
mod kernels {
    use super::{GATES, HIDDEN};

    /// Gate columns per weight panel.
    pub(super) const PANEL: usize = 32;

    /// Packs W_hhᵀ (H × 4H, row-major) as 4H/PANEL panels, each (H × PANEL)
    /// row-major: the kernel then streams one contiguous panel per column block.
    pub(super) fn pack_panels(w_t: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(w_t.len());
        for c0 in (0..GATES).step_by(PANEL) {
            for k in 0..HIDDEN {
                out.extend_from_slice(&w_t[k * GATES + c0..k * GATES + c0 + PANEL]);
            }
        }
        out
    }

    /// `g (P × 4H) += h (P × H) · W_hhᵀ`, with W_hhᵀ packed by [`pack_panels`].
    pub(super) fn recurrent(h: &[f32], panels: &[f32], g: &mut [f32]) {
        let p = g.len() / GATES;
        if h.len() < p * HIDDEN || panels.len() != HIDDEN * GATES {
            // Internal shapes are fixed at load; a mismatch is a bug, not bad input.
            unreachable!("recurrent kernel: inconsistent buffer sizes");
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F; sizes checked above.
                unsafe { recurrent_avx512(h, panels, g) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports the features the function is compiled for.
                unsafe { recurrent_avx2(h, panels, g) };
                return;
            }
        }
        recurrent_body::<false>(h, panels, g)
    }

    /// Row-block size for `rows` remaining rows: 8 while possible, then
    /// 4, 2, 1, so a few partials never pay for a full block of 8.
    #[inline(always)]
    pub(super) fn block_rows(rows: usize) -> usize {
        match rows {
            8.. => 8,
            4..=7 => 4,
            2..=3 => 2,
            _ => 1,
        }
    }

    /// Blocks of up to 8 partials × 32 gate columns: 16 zmm accumulators,
    /// each weight load feeding up to 8 FMAs.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn recurrent_avx512(h: &[f32], panels: &[f32], g: &mut [f32]) {
        let p = g.len() / GATES;
        let mut r0 = 0;
        while r0 < p {
            let n = block_rows(p - r0);
            // SAFETY (all four): same features; r0 + n ≤ p rows exist in h and g.
            match n {
                8 => unsafe { recurrent_block_avx512::<8>(h, panels, g, r0) },
                4 => unsafe { recurrent_block_avx512::<4>(h, panels, g, r0) },
                2 => unsafe { recurrent_block_avx512::<2>(h, panels, g, r0) },
                _ => unsafe { recurrent_block_avx512::<1>(h, panels, g, r0) },
            }
            r0 += n;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn recurrent_block_avx512<const R: usize>(
        h: &[f32],
        panels: &[f32],
        g: &mut [f32],
        r0: usize,
    ) {
        use std::arch::x86_64::*;
        let hp: [*const f32; R] =
            std::array::from_fn(|r| h[(r0 + r) * HIDDEN..][..HIDDEN].as_ptr());
        for (cb, panel) in panels.chunks_exact(HIDDEN * PANEL).enumerate() {
            let mut acc_lo = [_mm512_setzero_ps(); R];
            let mut acc_hi = [_mm512_setzero_ps(); R];
            let wp = panel.as_ptr();
            for k in 0..HIDDEN {
                // SAFETY: k·PANEL + 32 ≤ panel.len(); k < HIDDEN = each h row's length.
                let (w0, w1) = unsafe {
                    (
                        _mm512_loadu_ps(wp.add(k * PANEL)),
                        _mm512_loadu_ps(wp.add(k * PANEL + 16)),
                    )
                };
                for r in 0..R {
                    let hk = _mm512_set1_ps(unsafe { *hp[r].add(k) });
                    acc_lo[r] = _mm512_fmadd_ps(w0, hk, acc_lo[r]);
                    acc_hi[r] = _mm512_fmadd_ps(w1, hk, acc_hi[r]);
                }
            }
            for r in 0..R {
                let out = g[(r0 + r) * GATES + cb * PANEL..][..PANEL].as_mut_ptr();
                // SAFETY: `out` points at PANEL = 32 writable floats.
                unsafe {
                    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), acc_lo[r]));
                    _mm512_storeu_ps(
                        out.add(16),
                        _mm512_add_ps(_mm512_loadu_ps(out.add(16)), acc_hi[r]),
                    );
                }
            }
        }
    }

    /// PyTorch LSTM cell on gate pre-activations `g` (P × 4H, order i, f, g, o):
    /// updates `c` (P × H) in place and writes the new hidden state to `h`.
    pub(super) fn lstm_cell(g: &[f32], c: &mut [f32], h: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F.
                unsafe { lstm_cell_avx512(g, c, h) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: as above.
                unsafe { lstm_cell_avx2(g, c, h) };
                return;
            }
        }
        lstm_cell_body::<false>(g, c, h)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn recurrent_avx2(h: &[f32], panels: &[f32], g: &mut [f32]) {
        recurrent_body::<true>(h, panels, g)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn lstm_cell_avx512(g: &[f32], c: &mut [f32], h: &mut [f32]) {
        lstm_cell_body::<true>(g, c, h)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lstm_cell_avx2(g: &[f32], c: &mut [f32], h: &mut [f32]) {
        lstm_cell_body::<true>(g, c, h)
    }

    #[inline(always)]
    fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
        if FMA {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }

    /// Portable kernel: 2 partials × one 32-column panel per block (eight
    /// AVX2 accumulators), written so the compiler vectorises it.
    #[inline(always)]
    fn recurrent_body<const FMA: bool>(h: &[f32], panels: &[f32], g: &mut [f32]) {
        const R: usize = 2;
        let p = g.len() / GATES;
        let mut r0 = 0;
        while r0 < p {
            let rows = (p - r0).min(R);
            for (cb, panel) in panels.chunks_exact(HIDDEN * PANEL).enumerate() {
                let mut acc = [[0f32; PANEL]; R];
                for (k, w) in panel.chunks_exact(PANEL).enumerate() {
                    for (r, acc_row) in acc.iter_mut().enumerate() {
                        // Rows past the end re-read the last real row; their sums are dropped.
                        let hk = h[(r0 + r.min(rows - 1)) * HIDDEN + k];
                        for (a, &wi) in acc_row.iter_mut().zip(w) {
                            *a = madd::<FMA>(wi, hk, *a);
                        }
                    }
                }
                for (r, acc_row) in acc.iter().enumerate().take(rows) {
                    let out = &mut g[(r0 + r) * GATES + cb * PANEL..][..PANEL];
                    for (o, a) in out.iter_mut().zip(acc_row) {
                        *o += a;
                    }
                }
            }
            r0 += rows;
        }
    }

    #[inline(always)]
    fn lstm_cell_body<const FMA: bool>(g: &[f32], c: &mut [f32], h: &mut [f32]) {
        for ((gates, c), h) in g
            .chunks_exact(GATES)
            .zip(c.chunks_exact_mut(HIDDEN))
            .zip(h.chunks_exact_mut(HIDDEN))
        {
            let (gi, rest) = gates.split_at(HIDDEN);
            let (gf, rest) = rest.split_at(HIDDEN);
            let (gg, go) = rest.split_at(HIDDEN);
            for j in 0..HIDDEN {
                let i = sigmoid::<FMA>(gi[j]);
                let f = sigmoid::<FMA>(gf[j]);
                let o = sigmoid::<FMA>(go[j]);
                let cj = madd::<FMA>(f, c[j], i * tanh::<FMA>(gg[j]));
                c[j] = cj;
                h[j] = o * tanh::<FMA>(cj);
            }
        }
    }

    /// exp(x) for f32, branch-free so it vectorises: Cephes `expf` range
    /// reduction and polynomial (max relative error ≈ 2e-7 on the clamped range).
    #[inline(always)]
    pub(super) fn exp<const FMA: bool>(x: f32) -> f32 {
        let x = x.clamp(-87.0, 88.0);
        // Round to nearest via the 1.5·2²³ trick (vectorises, unlike round()).
        const MAGIC: f32 = 12_582_912.0;
        let shifted = madd::<FMA>(x, std::f32::consts::LOG2_E, MAGIC);
        let n = shifted - MAGIC;
        // The integer n sits in the low mantissa bits of `shifted`: reading it
        // from there avoids a float→int cast, which does not vectorise.
        let n_int = (shifted.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
        let r = madd::<FMA>(n, -0.693_359_4, x);
        let r = madd::<FMA>(n, 2.121_944_4e-4, r);
        let mut y = 1.987_569_1e-4f32;
        y = madd::<FMA>(y, r, 1.398_199_9e-3);
        y = madd::<FMA>(y, r, 8.333_452e-3);
        y = madd::<FMA>(y, r, 4.166_579_6e-2);
        y = madd::<FMA>(y, r, 1.666_666_5e-1);
        y = madd::<FMA>(y, r, 0.5);
        let y = madd::<FMA>(y, r * r, r + 1.0);
        let scale = f32::from_bits(((n_int + 127) as u32) << 23);
        y * scale
    }

    #[inline(always)]
    pub(super) fn sigmoid<const FMA: bool>(x: f32) -> f32 {
        1.0 / (1.0 + exp::<FMA>(-x))
    }

    /// tanh(x) = 2·σ(2x) − 1; absolute error ≈ 1e-7, which is what the LSTM sees.
    #[inline(always)]
    pub(super) fn tanh<const FMA: bool>(x: f32) -> f32 {
        2.0 / (1.0 + exp::<FMA>(-2.0 * x)) - 1.0
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn fast_exp_sigmoid_tanh_are_accurate() {
            let mut worst_exp = 0f64;
            let mut worst_act = 0f64;
            for i in -20_000..=20_000 {
                let x = i as f32 * 0.004; // [-80, 80]
                let e = f64::from(exp::<false>(x));
                let want = f64::from(x).exp();
                worst_exp = worst_exp.max(((e - want) / want).abs());
                let s = f64::from(sigmoid::<false>(x));
                let t = f64::from(tanh::<false>(x));
                worst_act = worst_act.max((s - 1.0 / (1.0 + (-f64::from(x)).exp())).abs());
                worst_act = worst_act.max((t - f64::from(x).tanh()).abs());
            }
            assert!(worst_exp < 1e-6, "exp rel error {worst_exp}");
            assert!(worst_act < 1e-6, "activation abs error {worst_act}");
            // Out-of-range inputs saturate instead of producing inf/NaN.
            let tiny = exp::<false>(-1000.0);
            assert!(tiny > 0.0 && tiny < 1e-37, "{tiny}");
            assert!(exp::<false>(1000.0).is_finite());
            assert!(sigmoid::<false>(-1000.0) < 1e-37);
            assert_eq!(tanh::<false>(1000.0), 1.0);
        }

        #[test]
        fn recurrent_kernel_matches_naive_product_for_any_row_count() {
            for p in [1usize, 2, 3, 7, 8, 9, 17] {
                let h: Vec<f32> = (0..p * HIDDEN)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect();
                let w_t: Vec<f32> = (0..HIDDEN * GATES)
                    .map(|i| ((i * 53 % 97) as f32 - 48.0) / 480.0)
                    .collect();
                let panels = pack_panels(&w_t);
                let mut g: Vec<f32> = (0..p * GATES).map(|i| i as f32 * 1e-3).collect();
                let mut want = g.clone();
                for r in 0..p {
                    for j in 0..GATES {
                        want[r * GATES + j] += (0..HIDDEN)
                            .map(|k| h[r * HIDDEN + k] * w_t[k * GATES + j])
                            .sum::<f32>();
                    }
                }
                recurrent(&h, &panels, &mut g);
                // The portable kernel too, whatever this CPU dispatches to.
                let mut portable: Vec<f32> = (0..p * GATES).map(|i| i as f32 * 1e-3).collect();
                recurrent_body::<false>(&h, &panels, &mut portable);
                let diff = portable
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-4, "portable kernel, p={p}: {diff}");
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    let mut avx2: Vec<f32> = (0..p * GATES).map(|i| i as f32 * 1e-3).collect();
                    // SAFETY: features detected just above.
                    unsafe { recurrent_avx2(&h, &panels, &mut avx2) };
                    let diff = avx2
                        .iter()
                        .zip(&want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    assert!(diff < 1e-4, "AVX2 kernel, p={p}: {diff}");
                }
                let diff = g
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-4, "p={p}: {diff}");
            }
        }
    }
}

/// bf16 matrix products on AVX-512 BF16 (`vdpbf16ps`): each instruction does
/// 32 multiply-adds of bf16 pairs into 16 f32 lanes, twice the f32 FMA rate
/// and half the weight bytes. Rounding is round-to-nearest-even.
mod bf16 {
    use super::GATES;

    /// Columns per panel (two zmm registers of 16 lanes).
    const PANEL: usize = 32;

    /// W (GATES × k, row-major) as bf16 pairs along k: panel `cb`, pair `m`,
    /// lane `j` holds (W[32cb+j][2m], W[32cb+j][2m+1]) in one u32 (low half first).
    pub(super) struct Panels {
        pairs: usize,
        data: Vec<u32>,
    }

    pub(super) fn supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// f32 → bf16 bits, round to nearest even (finite inputs).
    #[inline(always)]
    pub(super) fn to_bf16(x: f32) -> u32 {
        let b = x.to_bits();
        (b.wrapping_add(0x7fff + ((b >> 16) & 1))) >> 16
    }

    impl Panels {
        /// Packs `w` (n × k, row-major; n = GATES, k even). Empty when bf16 is unsupported.
        pub(super) fn pack(w: &[f32], n: usize, k: usize) -> Panels {
            if !supported() || n != GATES || !k.is_multiple_of(2) {
                return Panels {
                    pairs: 0,
                    data: Vec::new(),
                };
            }
            let pairs = k / 2;
            let mut data = Vec::with_capacity(n * pairs);
            for cb in 0..n / PANEL {
                for m in 0..pairs {
                    for j in 0..PANEL {
                        let row = &w[(cb * PANEL + j) * k..];
                        data.push(to_bf16(row[2 * m]) | (to_bf16(row[2 * m + 1]) << 16));
                    }
                }
            }
            Panels { pairs, data }
        }
    }

    /// `out (rows × GATES) += a (rows × 2·pairs) · Wᵀ` in bf16 with f32 sums.
    /// Only called when [`supported`] (the model never selects bf16 otherwise).
    /// With `bias` (length GATES) the result replaces `out` as `bias + a · Wᵀ`
    /// instead of accumulating into it, sparing a separate bias fill.
    pub(super) fn gemm_acc(
        a: &[f32],
        w: &Panels,
        bias: Option<&[f32]>,
        out: &mut [f32],
        scratch: &mut Vec<u32>,
    ) {
        let k = 2 * w.pairs;
        let rows = out.len() / GATES;
        if !supported()
            || w.data.len() != GATES * w.pairs
            || a.len() < rows * k
            || bias.is_some_and(|b| b.len() != GATES)
        {
            unreachable!("bf16 kernel called without support or with inconsistent sizes");
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512F/BF16 checked by `supported`; sizes checked above.
        unsafe {
            to_pairs_avx512(&a[..rows * k], scratch);
            gemm_acc_avx512(scratch, w, bias, out)
        }
    }

    /// Packs f32 values as bf16 pairs (round to nearest even), 32 at a time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn to_pairs_avx512(a: &[f32], pairs: &mut Vec<u32>) {
        use std::arch::x86_64::*;
        pairs.clear();
        pairs.reserve(a.len() / 2);
        let mut chunks = a.chunks_exact(32);
        for c in &mut chunks {
            // SAFETY: `c` holds 32 floats; the result is 16 u32 pairs.
            unsafe {
                let lo = _mm512_loadu_ps(c.as_ptr());
                let hi = _mm512_loadu_ps(c.as_ptr().add(16));
                let packed: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
                let mut buf = [0u32; 16];
                _mm512_storeu_si512(buf.as_mut_ptr().cast(), packed);
                pairs.extend_from_slice(&buf);
            }
        }
        pairs.extend(
            chunks
                .remainder()
                .chunks_exact(2)
                .map(|p| to_bf16(p[0]) | (to_bf16(p[1]) << 16)),
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn gemm_acc_avx512(a_pairs: &[u32], w: &Panels, bias: Option<&[f32]>, out: &mut [f32]) {
        let rows = out.len() / GATES;
        let mut r0 = 0;
        while r0 < rows {
            let n = super::kernels::block_rows(rows - r0);
            // SAFETY (all four): same features; rows r0..r0 + n exist in a_pairs and out.
            match n {
                8 => unsafe { block_avx512::<8>(a_pairs, w, bias, out, r0) },
                4 => unsafe { block_avx512::<4>(a_pairs, w, bias, out, r0) },
                2 => unsafe { block_avx512::<2>(a_pairs, w, bias, out, r0) },
                _ => unsafe { block_avx512::<1>(a_pairs, w, bias, out, r0) },
            }
            r0 += n;
        }
    }

    /// R rows × one 32-column panel: 2R zmm accumulators.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn block_avx512<const R: usize>(
        a_pairs: &[u32],
        w: &Panels,
        bias: Option<&[f32]>,
        out: &mut [f32],
        r0: usize,
    ) {
        use std::arch::x86_64::*;
        let pairs = w.pairs;
        let ap: [*const u32; R] =
            std::array::from_fn(|r| a_pairs[(r0 + r) * pairs..][..pairs].as_ptr());
        for (cb, panel) in w.data.chunks_exact(pairs * PANEL).enumerate() {
            let mut acc_lo = [_mm512_setzero_ps(); R];
            let mut acc_hi = [_mm512_setzero_ps(); R];
            let wp = panel.as_ptr();
            for m in 0..pairs {
                // SAFETY: m·PANEL + 32 ≤ panel.len(); m < pairs = each row's length
                // in a_pairs; __m512i and __m512bh are both 64 plain bytes.
                let (w0, w1): (__m512bh, __m512bh) = unsafe {
                    (
                        std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                            wp.add(m * PANEL).cast(),
                        )),
                        std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                            wp.add(m * PANEL + 16).cast(),
                        )),
                    )
                };
                for r in 0..R {
                    // SAFETY: as above.
                    let x = unsafe {
                        std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(
                            *ap[r].add(m) as i32
                        ))
                    };
                    acc_lo[r] = _mm512_dpbf16_ps(acc_lo[r], w0, x);
                    acc_hi[r] = _mm512_dpbf16_ps(acc_hi[r], w1, x);
                }
            }
            for r in 0..R {
                let o = out[(r0 + r) * GATES + cb * PANEL..][..PANEL].as_mut_ptr();
                // Add to the bias when given, else to what `out` holds.
                let base: *const f32 = match bias {
                    Some(b) => b[cb * PANEL..][..PANEL].as_ptr(),
                    None => o,
                };
                // SAFETY: `o` and `base` point at PANEL = 32 floats (`o` writable).
                unsafe {
                    _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(base), acc_lo[r]));
                    _mm512_storeu_ps(
                        o.add(16),
                        _mm512_add_ps(_mm512_loadu_ps(base.add(16)), acc_hi[r]),
                    );
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn bf16_product_matches_f32_within_bf16_rounding() {
            if !supported() {
                eprintln!("skipping: CPU lacks AVX-512 BF16");
                return;
            }
            for (rows, k) in [(1usize, 40usize), (3, 40), (7, 256), (9, 256), (17, 40)] {
                let a: Vec<f32> = (0..rows * k)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect();
                let w: Vec<f32> = (0..GATES * k)
                    .map(|i| ((i * 53 % 97) as f32 - 48.0) / 480.0)
                    .collect();
                let panels = Panels::pack(&w, GATES, k);
                let mut out: Vec<f32> = (0..rows * GATES).map(|i| i as f32 * 1e-3).collect();
                let mut want = out.clone();
                let bf = |x: f32| f32::from_bits(to_bf16(x) << 16);
                for r in 0..rows {
                    for j in 0..GATES {
                        want[r * GATES + j] += (0..k)
                            .map(|i| bf(a[r * k + i]) * bf(w[j * k + i]))
                            .sum::<f32>();
                    }
                }
                gemm_acc(&a, &panels, None, &mut out, &mut Vec::new());
                // Bias mode: out = bias + a·Wᵀ regardless of what out held.
                let bias: Vec<f32> = (0..GATES).map(|j| j as f32 * 0.01 - 3.0).collect();
                let mut replaced = vec![f32::NAN; rows * GATES];
                gemm_acc(&a, &panels, Some(&bias), &mut replaced, &mut Vec::new());
                for r in 0..rows {
                    for j in 0..GATES {
                        let base = (r * GATES + j) as f32 * 1e-3;
                        let expect = want[r * GATES + j] - base + bias[j];
                        let got = replaced[r * GATES + j];
                        assert!(
                            (got - expect).abs() < 1e-3,
                            "bias mode {r},{j}: {got} vs {expect}"
                        );
                    }
                }
                let diff = out
                    .iter()
                    .zip(&want)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-3, "rows={rows} k={k}: {diff}");
            }
            assert_eq!(to_bf16(1.0), 0x3f80);
            assert_eq!(to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80); // tie → even
            assert_eq!(to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
        }
    }
}

/// `c = a · bᵀ + beta·c` with a (m × k), b (n × k), c (m × n), all row-major.
fn sgemm_bt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], beta: f32) {
    assert!(
        a.len() >= m * k && b.len() >= n * k && c.len() >= m * n,
        "sgemm_bt: buffer sizes"
    );
    // SAFETY: bounds checked above; `c` is a unique borrow so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            1,
            k as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resemblyzer's slices, computed by hand from compute_partial_slices.
    #[test]
    fn partial_slices_match_the_reference() {
        // 1 s: n_frames = 101, steps = max(1, 101-160+78) = 19 → [0]; single partial kept.
        assert_eq!(partial_starts(16_000), vec![0]);
        // 3 s: n_frames = 301, steps = 219 → 0, 77, 154; coverage of 154:
        // (48000 - 24640) / 25600 = 0.9125 ≥ 0.75 → kept.
        assert_eq!(partial_starts(48_000), vec![0, 77, 154]);
        // 2.2 s: n_frames = 221, steps = 139 → 0, 77; coverage (35200-12320)/25600 = 0.894.
        assert_eq!(partial_starts(35_200), vec![0, 77]);
        // 1.8 s: n_frames = 181 → steps = 99 → 0, 77; coverage (28800-12320)/25600 = 0.64 → dropped.
        assert_eq!(partial_starts(28_800), vec![0]);
        assert_eq!(partial_starts(1), vec![0]);
    }

    fn tiny_state(seed: u32) -> HashMap<String, Tensor> {
        // Deterministic pseudo-random weights (xorshift) scaled like PyTorch's init.
        let mut s = seed.max(1);
        let mut rnd = move |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
                })
                .collect()
        };
        let mut m = HashMap::new();
        let mut put = |name: String, shape: Vec<usize>, data: Vec<f32>| {
            m.insert(name, Tensor { shape, data });
        };
        for l in 0..LAYERS {
            let input = if l == 0 { N_MELS } else { HIDDEN };
            put(
                format!("lstm.weight_ih_l{l}"),
                vec![GATES, input],
                rnd(GATES * input, 0.0625),
            );
            put(
                format!("lstm.weight_hh_l{l}"),
                vec![GATES, HIDDEN],
                rnd(GATES * HIDDEN, 0.0625),
            );
            put(
                format!("lstm.bias_ih_l{l}"),
                vec![GATES],
                rnd(GATES, 0.0625),
            );
            put(
                format!("lstm.bias_hh_l{l}"),
                vec![GATES],
                rnd(GATES, 0.0625),
            );
        }
        put(
            "linear.weight".into(),
            vec![EMBEDDING, HIDDEN],
            rnd(EMBEDDING * HIDDEN, 0.0625),
        );
        put(
            "linear.bias".into(),
            vec![EMBEDDING],
            rnd(EMBEDDING, 0.0625).iter().map(|x| x.abs()).collect(),
        );
        m
    }

    /// Straightforward single-sequence LSTM, to check the batched time-major one.
    fn naive_partial(model: &Ge2e, mel: &[f32], start: usize) -> Vec<f32> {
        let mut seq: Vec<Vec<f32>> = (0..PARTIAL_FRAMES)
            .map(|t| mel[(start + t) * N_MELS..(start + t + 1) * N_MELS].to_vec())
            .collect();
        for layer in &model.layers {
            let mut h = vec![0f32; HIDDEN];
            let mut c = vec![0f32; HIDDEN];
            let mut out = Vec::new();
            for x in &seq {
                let mut g = layer.bias.clone();
                for (r, gr) in g.iter_mut().enumerate() {
                    *gr += (0..layer.input)
                        .map(|k| layer.w_ih[r * layer.input + k] * x[k])
                        .sum::<f32>();
                    let panel =
                        &layer.w_hh_panels[(r / kernels::PANEL) * HIDDEN * kernels::PANEL..];
                    *gr += (0..HIDDEN)
                        .map(|k| panel[k * kernels::PANEL + r % kernels::PANEL] * h[k])
                        .sum::<f32>();
                }
                // Exact libm activations: also checks the fast ones inside the model.
                for j in 0..HIDDEN {
                    let sig = |x: f32| 1.0 / (1.0 + (-x).exp());
                    let cj = sig(g[HIDDEN + j]) * c[j] + sig(g[j]) * g[2 * HIDDEN + j].tanh();
                    c[j] = cj;
                    h[j] = sig(g[3 * HIDDEN + j]) * cj.tanh();
                }
                out.push(h.clone());
            }
            seq = out;
        }
        let h = seq.last().unwrap();
        let mut e: Vec<f32> = (0..EMBEDDING)
            .map(|r| {
                (model.linear_b[r]
                    + (0..HIDDEN)
                        .map(|k| model.linear_w[r * HIDDEN + k] * h[k])
                        .sum::<f32>())
                .max(0.0)
            })
            .collect();
        l2_normalise(&mut e).unwrap();
        e
    }

    #[test]
    fn batched_lstm_equals_naive_per_partial_lstm() {
        let mut model = Ge2e::from_state_dict(&tiny_state(7)).unwrap();
        model.set_precision(Precision::F32);
        let samples: Vec<f32> = (0..16_000 * 3)
            .map(|i| ((i as f32 * 0.013).sin() * 0.3) + ((i * 7919 % 101) as f32 / 1000.0))
            .collect();
        let UtteranceEmbedding {
            embedding: emb,
            partials,
            partial_starts: starts,
        } = model.embed_with_partials(&samples).unwrap();
        assert_eq!(starts.len(), 3);
        let mut mel = Vec::new();
        model
            .mel
            .compute(&samples, starts[2] + PARTIAL_FRAMES, &mut mel);
        let mut mean = vec![0f32; EMBEDDING];
        for (k, &s) in starts.iter().enumerate() {
            let expect = naive_partial(&model, &mel, s);
            let got = &partials[k * EMBEDDING..(k + 1) * EMBEDDING];
            let max_diff = expect
                .iter()
                .zip(got)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(max_diff < 1e-4, "partial {k} differs by {max_diff}");
            mean.iter_mut().zip(&expect).for_each(|(m, x)| *m += x);
        }
        l2_normalise(&mut mean).unwrap();
        let cos: f32 = mean.iter().zip(&emb).map(|(a, b)| a * b).sum();
        assert!(cos > 0.99999, "{cos}");

        // The bf16 path (where the CPU has it) stays close to f32.
        if model.set_precision(Precision::Bf16) == Precision::Bf16 {
            let fast = model.embed(&samples).unwrap();
            let cos: f32 = fast.iter().zip(&emb).map(|(a, b)| a * b).sum();
            assert!(cos > 0.9999, "bf16 vs f32 cosine {cos}");
        }
    }

    #[test]
    fn batches_and_threads_give_the_same_embedding() {
        // 45 s → 57 partials: batches of 32 + 25, and with 3 threads
        // three batches of 19; every partial must come out identical.
        let mut model = Ge2e::from_state_dict(&tiny_state(11)).unwrap();
        let samples: Vec<f32> = (0..16_000i64 * 45)
            .map(|i| ((i as f32 * 0.021).sin() * 0.2) + ((i * 7919 % 103) as f32 / 2000.0))
            .collect();
        let single = model.embed_with_partials(&samples).unwrap();
        assert_eq!(single.partial_starts.len(), 57);
        model.set_threads(3);
        let threaded = model.embed_with_partials(&samples).unwrap();
        assert_eq!(single, threaded);
        // Batch boundaries change nothing either: partial 40 alone.
        let start = single.partial_starts[40];
        let mut mel = Vec::new();
        model
            .mel
            .compute(&samples, start + PARTIAL_FRAMES, &mut mel);
        let mut alone = vec![0f32; EMBEDDING];
        model.forward_partials(&mel, &[start], &mut alone);
        let max_diff = alone
            .iter()
            .zip(&single.partials[40 * EMBEDDING..41 * EMBEDDING])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max_diff < 1e-5, "{max_diff}");
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let model = Ge2e::from_state_dict(&tiny_state(3)).unwrap();
        assert!(matches!(model.embed(&[]), Err(EngineError::TooShort(_))));
        assert!(matches!(
            model.embed(&[0.1, f32::NAN, 0.2]),
            Err(EngineError::Inference(_))
        ));
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        let mut state = tiny_state(5);
        state.get_mut("linear.bias").unwrap().shape = vec![128, 2];
        let err = Ge2e::from_state_dict(&state).unwrap_err();
        assert!(err.to_string().contains("linear.bias"), "{err}");
        state.remove("lstm.weight_hh_l1");
        assert!(Ge2e::from_state_dict(&state)
            .unwrap_err()
            .to_string()
            .contains("lstm.weight_hh_l1"));
    }
}
