//! CAM++ speaker encoder (3D-Speaker `speakerlab/models/campplus/DTDNN.py`,
//! `CAMPPlus(feat_dim=80, embedding_size=192)`), ported to plain Rust.
//!
//! Pipeline: [`KaldiFbank`] (80 bins) of the samples in [-1, 1], per-utterance
//! mean normalisation, then the network:
//! - FCM head: Conv2d 1→32 3×3 + BN + ReLU, two layers of two BasicResBlocks
//!   (the first of each strides 2 along frequency), Conv2d 3×3 stride (2, 1)
//!   + BN + ReLU, flattened to 32·10 = 320 channels (channel-major);
//! - TDNN: Conv1d 320→128, kernel 5, stride 2, padding 2, + BN + ReLU;
//! - three CAM dense blocks (12/24/16 layers, growth 32, dilation 1/2/2), each
//!   layer BN-ReLU-Conv1×1(→128)-BN-ReLU then a CAM layer: a k=3 local conv
//!   masked by sigmoid(linear2(relu(linear1(mean + segment mean)))), where the
//!   segment mean is PyTorch's `avg_pool1d(100, ceil_mode=True)` expanded back;
//!   each followed by a transit layer (BN-ReLU-Conv1×1 halving channels);
//! - BN-ReLU, statistics pooling (mean and unbiased std over time), and a
//!   Conv1×1 1024→192 with a non-affine BN.
//!
//! Key decisions: every BatchNorm that follows a convolution is folded into
//! it at load; the ones that precede a ReLU-convolution pair (pre-activation)
//! become a per-channel affine applied while staging the convolution's input.
//! All convolutions are matrix products (`matrixmultiply::sgemm`) over
//! channel-major (channels × time) buffers; dense-block concatenation is free
//! because each layer appends its 32 rows to one buffer. The CAM context is
//! constant within each 100-frame segment, so its two small linear layers run
//! once per segment, not per frame. The head is computed in time chunks with
//! a halo covering its receptive field (exact, bounded memory); the rest of the
//! network sees the whole utterance, as the reference does.
//!
//! Not here: resampling, VAD, L2 normalisation (the raw 192-d output is
//! returned, like the reference; scoring normalises).

use std::collections::HashMap;
use std::path::Path;

use crate::fbank::{subtract_mean_over_frames, KaldiFbank};
use crate::torch_legacy::Tensor;
use crate::{Embedder, EngineError, ModelId};

/// Embedding dimension.
pub const DIM: usize = 192;
const FEAT_DIM: usize = 80;
const HEAD_CHANNELS: usize = 32;
/// Frequency rows left after the head's three stride-2 stages (80 / 8).
const HEAD_FREQ_OUT: usize = FEAT_DIM / 8;
const TDNN_CHANNELS: usize = 128;
const GROWTH: usize = 32;
const BN_CHANNELS: usize = 128;
const SEGMENT: usize = 100;
const BN_EPS: f32 = 1e-5;
/// (layers, dilation) of the three dense blocks.
const BLOCKS: [(usize, usize); 3] = [(12, 1), (24, 2), (16, 2)];
/// The head's receptive field reaches this many frames either side (ten
/// 3-tap convolutions along time), so chunks overlapping by this much are exact.
const HEAD_HALO: usize = 10;
/// Output frames per head chunk: large enough that the halo costs little,
/// small enough that the chunk's activations stay in cache.
const HEAD_CHUNK: usize = 256;
/// Columns per staged block of a pre-activated 1×1 convolution.
const COLUMN_BLOCK: usize = 256;

/// Per-channel `x * scale + shift` (an inference-mode BatchNorm).
#[derive(Debug, Clone)]
struct Affine {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

/// A convolution as a matrix: `weight` is (out × in·kf·kt) row-major, the
/// PyTorch layout flattened; `bias` has one value per output channel.
#[derive(Debug, Clone)]
struct Conv {
    out_ch: usize,
    in_ch: usize,
    /// Kernel extent along frequency (1 for 1-D convolutions) and time.
    kf: usize,
    kt: usize,
    stride_f: usize,
    pad_f: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Conv {
    fn k(&self) -> usize {
        self.in_ch * self.kf * self.kt
    }
}

#[derive(Debug)]
struct ResBlock {
    conv1: Conv,
    conv2: Conv,
    shortcut: Option<Conv>,
}

#[derive(Debug)]
struct DenseLayer {
    in_bn: Affine,
    /// 1×1 (in → 128) with the following BN folded in; ReLU after.
    linear1: Conv,
    /// k=3 local conv split per tap: `local[tap]` is (32 × 128) row-major.
    local: [Vec<f32>; 3],
    dilation: usize,
    /// Context MLP: 128 → 64 (+ReLU) → 32 (+sigmoid).
    ctx1: Conv,
    ctx2: Conv,
}

#[derive(Debug)]
struct Transit {
    bn: Affine,
    linear: Conv,
}

/// The CAM++ model with its weights; immutable, `Send + Sync`.
#[derive(Debug)]
pub struct CamPlusPlus {
    fbank: KaldiFbank,
    head_conv1: Conv,
    head_layers: Vec<ResBlock>,
    head_conv2: Conv,
    tdnn: Conv,
    blocks: Vec<Vec<DenseLayer>>,
    transits: Vec<Transit>,
    out_bn: Affine,
    /// 1024 → 192 with the non-affine BN folded in.
    dense: Conv,
    /// Factor applied to the samples before the fbank (1: the reference's [-1, 1]).
    input_scale: f32,
}

/// Name → tensor map that hands out each tensor once, checking its shape.
struct StateDict(HashMap<String, Tensor>);

impl StateDict {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        let t = self
            .0
            .remove(name)
            .ok_or_else(|| EngineError::Weights(format!("tensor {name} missing")))?;
        if t.shape != shape {
            return Err(EngineError::Weights(format!(
                "tensor {name}: shape {:?}, expected {shape:?}",
                t.shape
            )));
        }
        Ok(t.data)
    }

    /// An inference-mode BatchNorm as a per-channel affine map.
    fn bn(&mut self, prefix: &str, ch: usize, affine: bool) -> Result<Affine, EngineError> {
        let mean = self.take(&format!("{prefix}.running_mean"), &[ch])?;
        let var = self.take(&format!("{prefix}.running_var"), &[ch])?;
        let (gamma, beta) = if affine {
            (
                self.take(&format!("{prefix}.weight"), &[ch])?,
                self.take(&format!("{prefix}.bias"), &[ch])?,
            )
        } else {
            (vec![1.0; ch], vec![0.0; ch])
        };
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + BN_EPS).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Ok(Affine { scale, shift })
    }

    /// A bias-free convolution followed by a BatchNorm, folded into one.
    #[allow(clippy::too_many_arguments)]
    fn conv_bn(
        &mut self,
        conv: &str,
        bn: &str,
        out_ch: usize,
        in_ch: usize,
        kernel: &[usize],
        stride_f: usize,
        pad_f: usize,
        bn_affine: bool,
    ) -> Result<Conv, EngineError> {
        let mut shape = vec![out_ch, in_ch];
        shape.extend_from_slice(kernel);
        let mut weight = self.take(&format!("{conv}.weight"), &shape)?;
        let bn = self.bn(bn, out_ch, bn_affine)?;
        let k = weight.len() / out_ch;
        for (row, s) in weight.chunks_exact_mut(k).zip(&bn.scale) {
            row.iter_mut().for_each(|w| *w *= s);
        }
        let (kf, kt) = match kernel {
            [kf, kt] => (*kf, *kt),
            [kt] => (1, *kt),
            _ => unreachable!("kernels are 1-D or 2-D"),
        };
        Ok(Conv {
            out_ch,
            in_ch,
            kf,
            kt,
            stride_f,
            pad_f,
            weight,
            bias: bn.shift,
        })
    }

    /// A 1×1 Conv1d with an optional bias.
    fn conv1x1(
        &mut self,
        name: &str,
        out_ch: usize,
        in_ch: usize,
        bias: bool,
    ) -> Result<Conv, EngineError> {
        let weight = self.take(&format!("{name}.weight"), &[out_ch, in_ch, 1])?;
        let bias = if bias {
            self.take(&format!("{name}.bias"), &[out_ch])?
        } else {
            vec![0.0; out_ch]
        };
        Ok(Conv {
            out_ch,
            in_ch,
            kf: 1,
            kt: 1,
            stride_f: 1,
            pad_f: 0,
            weight,
            bias,
        })
    }
}

impl CamPlusPlus {
    /// Loads a zip-format torch state dict of
    /// `CAMPPlus(feat_dim=80, embedding_size=192)` (e.g. 3D-Speaker's
    /// `campplus_cn_en_common.pt`). Any missing or misshapen tensor is an
    /// [`EngineError::Weights`].
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let tensors = crate::torch_zip::load_state_dict(path)?;
        Self::from_state_dict(tensors)
            .map_err(|e| EngineError::Weights(format!("{}: {e}", path.display())))
    }

    /// Builds the model from an already-read state dict.
    pub fn from_state_dict(tensors: HashMap<String, Tensor>) -> Result<Self, EngineError> {
        let mut sd = StateDict(tensors);
        let c = HEAD_CHANNELS;
        let head_conv1 = sd.conv_bn("head.conv1", "head.bn1", c, 1, &[3, 3], 1, 1, true)?;
        let mut head_layers = Vec::new();
        for layer in ["head.layer1", "head.layer2"] {
            for block in 0..2 {
                let p = format!("{layer}.{block}");
                let stride = if block == 0 { 2 } else { 1 };
                let conv1 = sd.conv_bn(
                    &format!("{p}.conv1"),
                    &format!("{p}.bn1"),
                    c,
                    c,
                    &[3, 3],
                    stride,
                    1,
                    true,
                )?;
                let conv2 = sd.conv_bn(
                    &format!("{p}.conv2"),
                    &format!("{p}.bn2"),
                    c,
                    c,
                    &[3, 3],
                    1,
                    1,
                    true,
                )?;
                let shortcut = if stride != 1 {
                    Some(sd.conv_bn(
                        &format!("{p}.shortcut.0"),
                        &format!("{p}.shortcut.1"),
                        c,
                        c,
                        &[1, 1],
                        stride,
                        0,
                        true,
                    )?)
                } else {
                    None
                };
                head_layers.push(ResBlock {
                    conv1,
                    conv2,
                    shortcut,
                });
            }
        }
        let head_conv2 = sd.conv_bn("head.conv2", "head.bn2", c, c, &[3, 3], 2, 1, true)?;
        let tdnn = sd.conv_bn(
            "xvector.tdnn.linear",
            "xvector.tdnn.nonlinear.batchnorm",
            TDNN_CHANNELS,
            c * HEAD_FREQ_OUT,
            &[5],
            1,
            0,
            true,
        )?;

        let mut channels = TDNN_CHANNELS;
        let mut blocks = Vec::new();
        let mut transits = Vec::new();
        for (b, &(layers, dilation)) in BLOCKS.iter().enumerate() {
            let mut block = Vec::with_capacity(layers);
            for l in 0..layers {
                let p = format!("xvector.block{}.tdnnd{}", b + 1, l + 1);
                let in_ch = channels + l * GROWTH;
                let in_bn = sd.bn(&format!("{p}.nonlinear1.batchnorm"), in_ch, true)?;
                let linear1 = sd.conv_bn(
                    &format!("{p}.linear1"),
                    &format!("{p}.nonlinear2.batchnorm"),
                    BN_CHANNELS,
                    in_ch,
                    &[1],
                    1,
                    0,
                    true,
                )?;
                let local = sd.take(
                    &format!("{p}.cam_layer.linear_local.weight"),
                    &[GROWTH, BN_CHANNELS, 3],
                )?;
                let tap =
                    |t: usize| -> Vec<f32> { local.iter().skip(t).step_by(3).copied().collect() };
                let ctx1 = sd.conv1x1(
                    &format!("{p}.cam_layer.linear1"),
                    BN_CHANNELS / 2,
                    BN_CHANNELS,
                    true,
                )?;
                let ctx2 = sd.conv1x1(
                    &format!("{p}.cam_layer.linear2"),
                    GROWTH,
                    BN_CHANNELS / 2,
                    true,
                )?;
                block.push(DenseLayer {
                    in_bn,
                    linear1,
                    local: [tap(0), tap(1), tap(2)],
                    dilation,
                    ctx1,
                    ctx2,
                });
            }
            blocks.push(block);
            channels += layers * GROWTH;
            let p = format!("xvector.transit{}", b + 1);
            transits.push(Transit {
                bn: sd.bn(&format!("{p}.nonlinear.batchnorm"), channels, true)?,
                linear: sd.conv1x1(&format!("{p}.linear"), channels / 2, channels, false)?,
            });
            channels /= 2;
        }
        let out_bn = sd.bn("xvector.out_nonlinear.batchnorm", channels, true)?;
        let dense = sd.conv_bn(
            "xvector.dense.linear",
            "xvector.dense.nonlinear.batchnorm",
            DIM,
            channels * 2,
            &[1],
            1,
            0,
            false,
        )?;
        // Anything left besides BN step counters means a different architecture.
        let mut unused: Vec<&String> =
            sd.0.keys()
                .filter(|k| !k.ends_with("num_batches_tracked"))
                .collect();
        if !unused.is_empty() {
            unused.sort();
            return Err(EngineError::Weights(format!(
                "{} unexpected tensors, e.g. {}: not CAMPPlus(feat_dim=80, embedding_size=192)",
                unused.len(),
                unused[0]
            )));
        }
        Ok(Self {
            fbank: KaldiFbank::new(FEAT_DIM),
            head_conv1,
            head_layers,
            head_conv2,
            tdnn,
            blocks,
            transits,
            out_bn,
            dense,
            input_scale: 1.0,
        })
    }

    /// Scales the samples by `scale` before feature extraction. The default 1
    /// feeds [-1, 1] as 3D-Speaker's inference (and the parity oracle) does;
    /// 32768 is the Kaldi/WeSpeaker int16 convention. Only the fbank's log
    /// floor (quiet bins) sees the difference: mean normalisation removes the
    /// constant offset everywhere else.
    pub fn with_input_scale(mut self, scale: f32) -> Self {
        self.input_scale = scale;
        self
    }

    /// Mean-normalised fbank features, row-major (frames × 80).
    pub fn features(&self, samples_16k: &[f32]) -> Vec<f32> {
        let mut feats = if self.input_scale == 1.0 {
            self.fbank.compute(samples_16k)
        } else {
            let scaled: Vec<f32> = samples_16k.iter().map(|s| s * self.input_scale).collect();
            self.fbank.compute(&scaled)
        };
        subtract_mean_over_frames(&mut feats, FEAT_DIM);
        feats
    }

    /// Embeds precomputed features (frames × 80, row-major, already
    /// mean-normalised): the network alone.
    pub fn embed_features(&self, feats: &[f32]) -> Result<Vec<f32>, EngineError> {
        if !feats.len().is_multiple_of(FEAT_DIM) {
            return Err(EngineError::Inference(format!(
                "feature matrix of {} values is not a whole number of {FEAT_DIM}-bin frames",
                feats.len()
            )));
        }
        let frames = feats.len() / FEAT_DIM;
        // The TDNN halves time; the std over time needs at least two frames.
        let t2 = frames.saturating_sub(1) / 2 + 1;
        if frames == 0 || t2 < 2 {
            return Err(EngineError::TooShort(format!(
                "{frames} fbank frames; CAM++ needs at least 3 (720 samples at 16 kHz)"
            )));
        }
        if let Some(bad) = feats.iter().find(|v| !v.is_finite()) {
            return Err(EngineError::Inference(format!(
                "non-finite feature value {bad}"
            )));
        }
        let head = self.head(feats, frames);
        let width = 1024;
        let mut a = vec![0.0f32; width * t2];
        let mut b = vec![0.0f32; width * t2];
        self.tdnn_into(&head, frames, t2, &mut a);
        drop(head);
        let mut scratch = Scratch::default();
        let mut channels = TDNN_CHANNELS;
        for (block, transit) in self.blocks.iter().zip(&self.transits) {
            for layer in block {
                layer.forward(&mut a, channels, t2, &mut scratch);
                channels += GROWTH;
            }
            pre_activated_conv1x1(&transit.bn, &transit.linear, &a, t2, &mut b, &mut scratch);
            channels /= 2;
            std::mem::swap(&mut a, &mut b);
        }
        // Statistics pooling of BN-ReLU(x): mean then unbiased std per channel.
        let mut stats = vec![0.0f32; 2 * channels];
        for ch in 0..channels {
            let (s, h) = (self.out_bn.scale[ch], self.out_bn.shift[ch]);
            let row = &a[ch * t2..(ch + 1) * t2];
            let mut sum = 0.0f64;
            let mut sum_sq = 0.0f64;
            for &x in row {
                let y = f64::from((x * s + h).max(0.0));
                sum += y;
                sum_sq += y * y;
            }
            let n = t2 as f64;
            let mean = sum / n;
            let var = ((sum_sq - n * mean * mean) / (n - 1.0)).max(0.0);
            stats[ch] = mean as f32;
            stats[channels + ch] = var.sqrt() as f32;
        }
        let mut out = self.dense.bias.clone();
        for (o, row) in out
            .iter_mut()
            .zip(self.dense.weight.chunks_exact(self.dense.k()))
        {
            *o += row.iter().zip(&stats).map(|(w, x)| w * x).sum::<f32>();
        }
        Ok(out)
    }

    /// The FCM head over the whole utterance: (frames × 80) features to a
    /// (320 × frames) channel-major map, computed in overlapping time chunks.
    fn head(&self, feats: &[f32], frames: usize) -> Vec<f32> {
        let out_rows = HEAD_CHANNELS * HEAD_FREQ_OUT;
        let mut out = vec![0.0f32; out_rows * frames];
        let mut bufs = HeadBuffers::default();
        let mut start = 0;
        while start < frames {
            let end = (start + HEAD_CHUNK).min(frames);
            let lo = start.saturating_sub(HEAD_HALO);
            let hi = (end + HEAD_HALO).min(frames);
            let tc = hi - lo;
            // Transpose the chunk to (1, 80, tc).
            bufs.input.clear();
            bufs.input.resize(FEAT_DIM * tc, 0.0);
            for (t, frame) in feats[lo * FEAT_DIM..hi * FEAT_DIM]
                .chunks_exact(FEAT_DIM)
                .enumerate()
            {
                for (f, &v) in frame.iter().enumerate() {
                    bufs.input[f * tc + t] = v;
                }
            }
            let chunk = self.head_chunk(&mut bufs, tc);
            for row in 0..out_rows {
                out[row * frames + start..row * frames + end]
                    .copy_from_slice(&chunk[row * tc + (start - lo)..row * tc + (end - lo)]);
            }
            start = end;
        }
        out
    }

    /// The head on one chunk held in `bufs.input` (1 × 80 × tc); returns the
    /// (32 × 10 × tc) result, borrowed from `bufs`.
    fn head_chunk<'b>(&self, bufs: &'b mut HeadBuffers, tc: usize) -> &'b [f32] {
        let HeadBuffers {
            input,
            x,
            y,
            z,
            col,
        } = bufs;
        let mut freq = FEAT_DIM;
        freq = conv2d(&self.head_conv1, input, freq, tc, x, col, true);
        for block in &self.head_layers {
            let f1 = conv2d(&block.conv1, x, freq, tc, y, col, true);
            conv2d(&block.conv2, y, f1, tc, z, col, false);
            match &block.shortcut {
                Some(sc) => {
                    conv2d(sc, x, freq, tc, y, col, false);
                    for (o, s) in z.iter_mut().zip(y.iter()) {
                        *o = (*o + s).max(0.0);
                    }
                }
                None => {
                    for (o, s) in z.iter_mut().zip(x.iter()) {
                        *o = (*o + s).max(0.0);
                    }
                }
            }
            std::mem::swap(x, z);
            freq = f1;
        }
        let f_out = conv2d(&self.head_conv2, x, freq, tc, y, col, true);
        debug_assert_eq!(f_out, HEAD_FREQ_OUT);
        &y[..HEAD_CHANNELS * HEAD_FREQ_OUT * tc]
    }

    /// TDNN layer (k=5, stride 2, padding 2) + folded BN + ReLU, from the
    /// (320 × frames) head output into rows 0..128 of `out` (row stride t2).
    fn tdnn_into(&self, head: &[f32], frames: usize, t2: usize, out: &mut [f32]) {
        let conv = &self.tdnn;
        let k = conv.k();
        let mut col = vec![0.0f32; k * COLUMN_BLOCK.min(t2)];
        let mut c0 = 0;
        while c0 < t2 {
            let n = COLUMN_BLOCK.min(t2 - c0);
            let col = &mut col[..k * n];
            for ci in 0..conv.in_ch {
                let src = &head[ci * frames..(ci + 1) * frames];
                for tap in 0..conv.kt {
                    let dst = &mut col[(ci * conv.kt + tap) * n..(ci * conv.kt + tap + 1) * n];
                    for (j, d) in dst.iter_mut().enumerate() {
                        // Input frame 2·t + tap − 2, zero outside the utterance.
                        let t = 2 * (c0 + j) + tap;
                        *d = if t >= 2 && t - 2 < frames {
                            src[t - 2]
                        } else {
                            0.0
                        };
                    }
                }
            }
            gemm(
                conv.out_ch,
                k,
                n,
                &conv.weight,
                k,
                col,
                n,
                1,
                &mut out[c0..],
                t2,
                0.0,
            );
            c0 += n;
        }
        for (row, &b) in out.chunks_exact_mut(t2).zip(&conv.bias) {
            row.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
        }
    }
}

#[derive(Default)]
struct HeadBuffers {
    input: Vec<f32>,
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    col: Vec<f32>,
}

/// Reusable buffers of the dense blocks.
#[derive(Default)]
struct Scratch {
    /// Pre-activated input columns of a 1×1 convolution.
    staged: Vec<f32>,
    /// Dense layer bottleneck (128 × (t + 2·dilation)), zero-padded in time.
    hidden: Vec<f32>,
    /// Per-segment context and mask values.
    context: Vec<f32>,
    ctx_hidden: Vec<f32>,
    mask: Vec<f32>,
}

impl DenseLayer {
    /// Appends this layer's 32 output rows after the `in_ch` rows of `x`
    /// (channel-major, row stride `t`).
    fn forward(&self, x: &mut [f32], in_ch: usize, t: usize, s: &mut Scratch) {
        let d = self.dilation;
        let tp = t + 2 * d;
        s.hidden.clear();
        s.hidden.resize(BN_CHANNELS * tp, 0.0);
        // BN-ReLU-Conv1×1 with BN-ReLU folded, into the padded bottleneck.
        let (input, output) = x.split_at_mut(in_ch * t);
        {
            let hidden = &mut s.hidden;
            let mut c0 = 0;
            while c0 < t {
                let n = COLUMN_BLOCK.min(t - c0);
                stage_pre_activated(&self.in_bn, input, in_ch, t, c0, n, &mut s.staged);
                gemm(
                    BN_CHANNELS,
                    in_ch,
                    n,
                    &self.linear1.weight,
                    in_ch,
                    &s.staged,
                    n,
                    1,
                    &mut hidden[d + c0..],
                    tp,
                    0.0,
                );
                c0 += n;
            }
            for (row, &b) in hidden.chunks_exact_mut(tp).zip(&self.linear1.bias) {
                row[d..d + t]
                    .iter_mut()
                    .for_each(|v| *v = (*v + b).max(0.0));
            }
        }
        // Local conv: three taps at offsets −d, 0, +d over the zero-padded rows.
        let y = &mut output[..GROWTH * t];
        for (tap, w) in self.local.iter().enumerate() {
            let beta = if tap == 0 { 0.0 } else { 1.0 };
            gemm(
                GROWTH,
                BN_CHANNELS,
                t,
                w,
                BN_CHANNELS,
                &s.hidden[tap * d..],
                tp,
                1,
                y,
                t,
                beta,
            );
        }
        // Context: utterance mean + mean of each 100-frame segment (the last
        // one partial, averaged over its real frames as avg_pool1d with
        // ceil_mode does), constant within a segment.
        let segments = t.div_ceil(SEGMENT);
        s.context.clear();
        s.context.resize(segments * BN_CHANNELS, 0.0);
        for ch in 0..BN_CHANNELS {
            let row = &s.hidden[ch * tp + d..ch * tp + d + t];
            let mean = row.iter().sum::<f32>() / t as f32;
            for (seg, part) in row.chunks(SEGMENT).enumerate() {
                s.context[seg * BN_CHANNELS + ch] =
                    mean + part.iter().sum::<f32>() / part.len() as f32;
            }
        }
        s.ctx_hidden.clear();
        s.ctx_hidden.resize(segments * self.ctx1.out_ch, 0.0);
        s.mask.clear();
        s.mask.resize(segments * GROWTH, 0.0);
        for seg in 0..segments {
            let ctx = &s.context[seg * BN_CHANNELS..(seg + 1) * BN_CHANNELS];
            let hid = &mut s.ctx_hidden[seg * self.ctx1.out_ch..(seg + 1) * self.ctx1.out_ch];
            matvec(&self.ctx1, ctx, hid);
            hid.iter_mut().for_each(|v| *v = v.max(0.0));
            let m = &mut s.mask[seg * GROWTH..(seg + 1) * GROWTH];
            matvec(&self.ctx2, hid, m);
            m.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
        }
        for (ch, row) in y.chunks_exact_mut(t).enumerate() {
            for (seg, part) in row.chunks_mut(SEGMENT).enumerate() {
                let m = s.mask[seg * GROWTH + ch];
                part.iter_mut().for_each(|v| *v *= m);
            }
        }
    }
}

/// `out = conv.weight · v + conv.bias` for a 1×1 convolution of one column.
fn matvec(conv: &Conv, v: &[f32], out: &mut [f32]) {
    for ((o, row), b) in out
        .iter_mut()
        .zip(conv.weight.chunks_exact(conv.k()))
        .zip(&conv.bias)
    {
        *o = b + row.iter().zip(v).map(|(w, x)| w * x).sum::<f32>();
    }
}

/// Copies columns `c0..c0+n` of the first `rows` rows of `x` (row stride `t`)
/// into `staged` (rows × n) as `relu(x · scale + shift)`.
fn stage_pre_activated(
    bn: &Affine,
    x: &[f32],
    rows: usize,
    t: usize,
    c0: usize,
    n: usize,
    staged: &mut Vec<f32>,
) {
    staged.clear();
    staged.resize(rows * n, 0.0);
    for (ch, dst) in staged.chunks_exact_mut(n).enumerate() {
        let (s, h) = (bn.scale[ch], bn.shift[ch]);
        let src = &x[ch * t + c0..ch * t + c0 + n];
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = (v * s + h).max(0.0);
        }
    }
}

/// `out[0..conv.out_ch] = conv · relu(bn(x[0..conv.in_ch]))` over `t` columns.
fn pre_activated_conv1x1(
    bn: &Affine,
    conv: &Conv,
    x: &[f32],
    t: usize,
    out: &mut [f32],
    s: &mut Scratch,
) {
    let mut c0 = 0;
    while c0 < t {
        let n = COLUMN_BLOCK.min(t - c0);
        stage_pre_activated(bn, x, conv.in_ch, t, c0, n, &mut s.staged);
        gemm(
            conv.out_ch,
            conv.in_ch,
            n,
            &conv.weight,
            conv.in_ch,
            &s.staged,
            n,
            1,
            &mut out[c0..],
            t,
            0.0,
        );
        c0 += n;
    }
    for (row, &b) in out.chunks_exact_mut(t).take(conv.out_ch).zip(&conv.bias) {
        if b != 0.0 {
            row.iter_mut().for_each(|v| *v += b);
        }
    }
}

/// A 2-D convolution (time stride 1, "same" time padding) of a
/// (in_ch × freq × t) map into `out` (out_ch × freq_out × t), plus bias and
/// optional ReLU. One im2col + matrix product per output frequency row.
/// Returns freq_out.
fn conv2d(
    conv: &Conv,
    input: &[f32],
    freq: usize,
    t: usize,
    out: &mut Vec<f32>,
    col: &mut Vec<f32>,
    relu: bool,
) -> usize {
    let freq_out = (freq + 2 * conv.pad_f - conv.kf) / conv.stride_f + 1;
    let pad_t = conv.kt / 2;
    let k = conv.k();
    out.clear();
    out.resize(conv.out_ch * freq_out * t, 0.0);
    col.clear();
    col.resize(k * t, 0.0);
    for fo in 0..freq_out {
        for ci in 0..conv.in_ch {
            for kf in 0..conv.kf {
                let fi = (fo * conv.stride_f + kf).checked_sub(conv.pad_f);
                for kt in 0..conv.kt {
                    let r = (ci * conv.kf + kf) * conv.kt + kt;
                    let dst = &mut col[r * t..(r + 1) * t];
                    match fi.filter(|&f| f < freq) {
                        None => dst.fill(0.0),
                        Some(f) => {
                            let src = &input[(ci * freq + f) * t..(ci * freq + f + 1) * t];
                            // dst[j] = src[j + kt − pad_t], zero outside.
                            if kt < pad_t {
                                let shift = pad_t - kt;
                                dst[..shift].fill(0.0);
                                dst[shift..].copy_from_slice(&src[..t - shift]);
                            } else {
                                let shift = kt - pad_t;
                                dst[..t - shift].copy_from_slice(&src[shift..]);
                                dst[t - shift..].fill(0.0);
                            }
                        }
                    }
                }
            }
        }
        gemm(
            conv.out_ch,
            k,
            t,
            &conv.weight,
            k,
            col,
            t,
            1,
            &mut out[fo * t..],
            freq_out * t,
            0.0,
        );
    }
    for (o, &b) in out.chunks_exact_mut(freq_out * t).zip(&conv.bias) {
        if relu {
            o.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
        } else {
            o.iter_mut().for_each(|v| *v += b);
        }
    }
    freq_out
}

/// `C = A·B + beta·C` with A (m × k, row stride `rsa`), B (k × n, strides
/// `rsb`, `csb`), C (m × n, row stride `rsc`), all unit column stride except B.
/// Bounds are checked so the unsafe call cannot read or write out of range.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
    rsc: usize,
    beta: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        k == 0 || (m - 1) * rsa + k <= a.len(),
        "gemm: A out of range"
    );
    assert!(
        k == 0 || (k - 1) * rsb + (n - 1) * csb < b.len(),
        "gemm: B out of range"
    );
    assert!((m - 1) * rsc + n <= c.len(), "gemm: C out of range");
    // SAFETY: the asserts above bound every element the product touches
    // within the three slices; C does not alias A or B (distinct borrows).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            1,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

impl Embedder for CamPlusPlus {
    fn model_id(&self) -> ModelId {
        "campplus"
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError> {
        let feats = self.features(samples_16k);
        if feats.is_empty() {
            return Err(EngineError::TooShort(format!(
                "{} samples; CAM++ needs at least 720 (45 ms at 16 kHz)",
                samples_16k.len()
            )));
        }
        self.embed_features(&feats)
    }
}
