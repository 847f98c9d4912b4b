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

struct LstmLayer {
    input: usize,
    /// (4·hidden × input), PyTorch gate order i, f, g, o.
    w_ih: Vec<f32>,
    /// (4·hidden × hidden).
    w_hh: Vec<f32>,
    /// b_ih + b_hh, folded at load.
    bias: Vec<f32>,
}

/// The GE2E encoder with its weights; immutable, shareable across threads.
pub struct Ge2e {
    mel: MelSpectrogram,
    layers: Vec<LstmLayer>,
    /// (embedding × hidden).
    linear_w: Vec<f32>,
    linear_b: Vec<f32>,
}

impl std::fmt::Debug for Ge2e {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ge2e").field("layers", &self.layers.len()).finish_non_exhaustive()
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
            let t = state.get(name).ok_or_else(|| EngineError::Weights(format!("GE2E weights lack `{name}`")))?;
            if t.shape != shape {
                return Err(EngineError::Weights(format!(
                    "GE2E `{name}` has shape {:?}, expected {shape:?}",
                    t.shape
                )));
            }
            if t.data.iter().any(|x| !x.is_finite()) {
                return Err(EngineError::Weights(format!("GE2E `{name}` holds non-finite values")));
            }
            Ok(t.data.clone())
        };
        let mut layers = Vec::with_capacity(LAYERS);
        for l in 0..LAYERS {
            let input = if l == 0 { N_MELS } else { HIDDEN };
            let b_ih = get(&format!("lstm.bias_ih_l{l}"), &[GATES])?;
            let b_hh = get(&format!("lstm.bias_hh_l{l}"), &[GATES])?;
            layers.push(LstmLayer {
                input,
                w_ih: get(&format!("lstm.weight_ih_l{l}"), &[GATES, input])?,
                w_hh: get(&format!("lstm.weight_hh_l{l}"), &[GATES, HIDDEN])?,
                bias: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
            });
        }
        Ok(Ge2e {
            mel: MelSpectrogram::resemblyzer(),
            layers,
            linear_w: get("linear.weight", &[EMBEDDING, HIDDEN])?,
            linear_b: get("linear.bias", &[EMBEDDING])?,
        })
    }

    /// Embeds an utterance and also returns each partial's embedding
    /// (row-major, partials × 256) and its start frame.
    pub fn embed_with_partials(&self, samples_16k: &[f32]) -> Result<(Vec<f32>, Vec<f32>, Vec<usize>), EngineError> {
        if samples_16k.is_empty() {
            return Err(EngineError::TooShort("GE2E needs at least one sample".into()));
        }
        if samples_16k.iter().any(|x| !x.is_finite()) {
            return Err(EngineError::Inference("audio holds NaN or infinite samples".into()));
        }
        let starts = partial_starts(samples_16k.len());
        let n_frames = starts.last().map_or(0, |s| s + PARTIAL_FRAMES);
        let mut mel = Vec::new();
        self.mel.compute(samples_16k, n_frames, &mut mel);
        let partials = self.forward_partials(&mel, &starts);

        let mut mean = vec![0f32; EMBEDDING];
        for row in partials.chunks_exact(EMBEDDING) {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        l2_normalise(&mut mean)?;
        Ok((mean, partials, starts))
    }

    /// Runs the network on the partial windows of `mel` (frames × 40)
    /// starting at `starts`; returns L2-normalised embeddings (partials × 256).
    fn forward_partials(&self, mel: &[f32], starts: &[usize]) -> Vec<f32> {
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
        for layer in &self.layers {
            let input: &[f32] = if layer.input == N_MELS { &x } else { &h };
            // gates = input · W_ihᵀ + bias, for all frames of all partials at once.
            for row in gates.chunks_exact_mut(GATES) {
                row.copy_from_slice(&layer.bias);
            }
            sgemm_bt(rows, layer.input, GATES, input, &layer.w_ih, &mut gates, 1.0);
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
                    sgemm_bt(p, HIDDEN, GATES, h_prev, &layer.w_hh, g, 1.0);
                }
                let h_t = &mut out[t * p * HIDDEN..(t + 1) * p * HIDDEN];
                lstm_cell(g, &mut c, h_t);
            }
            h = out;
        }
        // Final hidden state of the last layer → Linear → ReLU → L2 norm.
        let last = &h[(PARTIAL_FRAMES - 1) * p * HIDDEN..];
        let mut emb = vec![0f32; p * EMBEDDING];
        for row in emb.chunks_exact_mut(EMBEDDING) {
            row.copy_from_slice(&self.linear_b);
        }
        sgemm_bt(p, HIDDEN, EMBEDDING, last, &self.linear_w, &mut emb, 1.0);
        for row in emb.chunks_exact_mut(EMBEDDING) {
            row.iter_mut().for_each(|v| *v = v.max(0.0));
            // An all-zero partial stays zero, as torch would give NaN; the
            // mean over partials is checked instead.
            let _ = l2_normalise(row);
        }
        emb
    }
}

impl Embedder for Ge2e {
    fn model_id(&self) -> ModelId {
        "ge2e"
    }

    fn dim(&self) -> usize {
        EMBEDDING
    }

    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError> {
        self.embed_with_partials(samples_16k).map(|(e, _, _)| e)
    }
}

/// Start frames of the partial windows, exactly as Resemblyzer's
/// `compute_partial_slices(n_samples, rate=1.3, min_coverage=0.75)`; each
/// window spans frames `start..start + 160` (samples `160·start..`). The
/// waveform is implicitly zero-padded to the last window's end.
pub fn partial_starts(n_samples: usize) -> Vec<usize> {
    let samples_per_frame = 160usize;
    let n_frames = (n_samples + 1).div_ceil(samples_per_frame);
    let frame_step = ((SAMPLE_RATE / PARTIALS_PER_SECOND) / samples_per_frame as f64).round() as usize;
    let steps = (n_frames + frame_step + 1).saturating_sub(PARTIAL_FRAMES).max(1);
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

/// PyTorch LSTM cell on gate pre-activations `g` (partials × 4·hidden, order
/// i, f, g, o); updates `c` in place and writes the new hidden state to `h`.
fn lstm_cell(g: &[f32], c: &mut [f32], h: &mut [f32]) {
    for ((gates, c), h) in g.chunks_exact(GATES).zip(c.chunks_exact_mut(HIDDEN)).zip(h.chunks_exact_mut(HIDDEN)) {
        let (gi, rest) = gates.split_at(HIDDEN);
        let (gf, rest) = rest.split_at(HIDDEN);
        let (gg, go) = rest.split_at(HIDDEN);
        for j in 0..HIDDEN {
            let i = sigmoid(gi[j]);
            let f = sigmoid(gf[j]);
            let o = sigmoid(go[j]);
            let cj = f * c[j] + i * gg[j].tanh();
            c[j] = cj;
            h[j] = o * cj.tanh();
        }
    }
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn l2_normalise(v: &mut [f32]) -> Result<(), EngineError> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(EngineError::Inference("embedding has zero or non-finite norm".into()));
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Ok(())
}

/// `c = a · bᵀ + beta·c` with a (m × k), b (n × k), c (m × n), all row-major.
fn sgemm_bt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], beta: f32) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n, "sgemm_bt: buffer sizes");
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
            put(format!("lstm.weight_ih_l{l}"), vec![GATES, input], rnd(GATES * input, 0.0625));
            put(format!("lstm.weight_hh_l{l}"), vec![GATES, HIDDEN], rnd(GATES * HIDDEN, 0.0625));
            put(format!("lstm.bias_ih_l{l}"), vec![GATES], rnd(GATES, 0.0625));
            put(format!("lstm.bias_hh_l{l}"), vec![GATES], rnd(GATES, 0.0625));
        }
        put("linear.weight".into(), vec![EMBEDDING, HIDDEN], rnd(EMBEDDING * HIDDEN, 0.0625));
        put("linear.bias".into(), vec![EMBEDDING], rnd(EMBEDDING, 0.0625).iter().map(|x| x.abs()).collect());
        m
    }

    /// Straightforward single-sequence LSTM, to check the batched time-major one.
    fn naive_partial(model: &Ge2e, mel: &[f32], start: usize) -> Vec<f32> {
        let mut seq: Vec<Vec<f32>> = (0..PARTIAL_FRAMES).map(|t| mel[(start + t) * N_MELS..(start + t + 1) * N_MELS].to_vec()).collect();
        for layer in &model.layers {
            let mut h = vec![0f32; HIDDEN];
            let mut c = vec![0f32; HIDDEN];
            let mut out = Vec::new();
            for x in &seq {
                let mut g = layer.bias.clone();
                for (r, gr) in g.iter_mut().enumerate() {
                    *gr += (0..layer.input).map(|k| layer.w_ih[r * layer.input + k] * x[k]).sum::<f32>();
                    *gr += (0..HIDDEN).map(|k| layer.w_hh[r * HIDDEN + k] * h[k]).sum::<f32>();
                }
                lstm_cell(&g, &mut c, &mut h);
                out.push(h.clone());
            }
            seq = out;
        }
        let h = seq.last().unwrap();
        let mut e: Vec<f32> = (0..EMBEDDING)
            .map(|r| (model.linear_b[r] + (0..HIDDEN).map(|k| model.linear_w[r * HIDDEN + k] * h[k]).sum::<f32>()).max(0.0))
            .collect();
        l2_normalise(&mut e).unwrap();
        e
    }

    #[test]
    fn batched_lstm_equals_naive_per_partial_lstm() {
        let model = Ge2e::from_state_dict(&tiny_state(7)).unwrap();
        let samples: Vec<f32> = (0..16_000 * 3).map(|i| ((i as f32 * 0.013).sin() * 0.3) + ((i * 7919 % 101) as f32 / 1000.0)).collect();
        let (emb, partials, starts) = model.embed_with_partials(&samples).unwrap();
        assert_eq!(starts.len(), 3);
        let mut mel = Vec::new();
        model.mel.compute(&samples, starts[2] + PARTIAL_FRAMES, &mut mel);
        let mut mean = vec![0f32; EMBEDDING];
        for (k, &s) in starts.iter().enumerate() {
            let expect = naive_partial(&model, &mel, s);
            let got = &partials[k * EMBEDDING..(k + 1) * EMBEDDING];
            let max_diff = expect.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(max_diff < 1e-4, "partial {k} differs by {max_diff}");
            mean.iter_mut().zip(&expect).for_each(|(m, x)| *m += x);
        }
        l2_normalise(&mut mean).unwrap();
        let cos: f32 = mean.iter().zip(&emb).map(|(a, b)| a * b).sum();
        assert!(cos > 0.99999, "{cos}");
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let model = Ge2e::from_state_dict(&tiny_state(3)).unwrap();
        assert!(matches!(model.embed(&[]), Err(EngineError::TooShort(_))));
        assert!(matches!(model.embed(&[0.1, f32::NAN, 0.2]), Err(EngineError::Inference(_))));
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        let mut state = tiny_state(5);
        state.get_mut("linear.bias").unwrap().shape = vec![128, 2];
        let err = Ge2e::from_state_dict(&state).unwrap_err();
        assert!(err.to_string().contains("linear.bias"), "{err}");
        state.remove("lstm.weight_hh_l1");
        assert!(Ge2e::from_state_dict(&state).unwrap_err().to_string().contains("lstm.weight_hh_l1"));
    }
}
