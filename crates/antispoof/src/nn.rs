//! The few neural-network primitives AASIST needs, on plain `Vec<f32>`s:
//! matrix product (matrixmultiply), 2-D convolution by im2col, linear
//! layers, eval-mode batch norm and SELU. Layout is row-major throughout:
//! feature maps are (channel × height × width), node sets (node × dim).

use std::collections::HashMap;

use voiceprint_engine::torch_legacy::Tensor;

use crate::AntispoofError;

/// Batch-norm epsilon of `torch.nn.BatchNorm{1,2}d` (the checkpoints keep the default).
const BN_EPS: f64 = 1e-5;
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

#[inline]
pub fn selu(x: f32) -> f32 {
    if x > 0.0 {
        SELU_SCALE * x
    } else {
        SELU_SCALE * SELU_ALPHA * x.exp_m1()
    }
}

/// SELU over a slice, in place. Branch-free with a polynomial `exp` so the
/// loop vectorises (libm's `expm1f` was ≈ 9 % of a window's time); the
/// absolute error against [`selu`] stays below 1e-6.
pub fn selu_slice(v: &mut [f32]) {
    for x in v.iter_mut() {
        let neg = SELU_SCALE * SELU_ALPHA * (exp_nonpositive(x.min(0.0)) - 1.0);
        *x = if *x > 0.0 { SELU_SCALE * *x } else { neg };
    }
}

/// `exp(x)` for `x ≤ 0` (relative error ≈ 2e-7; 0 below −87): Cody–Waite
/// range reduction to |r| ≤ ln2 / 2 and a degree-6 Taylor polynomial.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Round to nearest by the 1.5·2^23 trick (vectorises without SSE4.1).
    const MAGIC: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let k = (x * LOG2E + MAGIC) - MAGIC;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * scale
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Takes named tensors out of a state dict, checking their shapes.
pub struct Weights {
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    /// Wraps a state dict; a `module.` prefix (DataParallel checkpoints) is stripped.
    pub fn new(tensors: HashMap<String, Tensor>) -> Self {
        let tensors = tensors
            .into_iter()
            .map(|(k, v)| match k.strip_prefix("module.") {
                Some(rest) => (rest.to_owned(), v),
                None => (k, v),
            })
            .collect();
        Weights { tensors }
    }

    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, AntispoofError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| AntispoofError::Weights(format!("tensor {name} missing")))?;
        // Trailing/leading singleton dimensions are not significant to us.
        let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
        if squeeze(&t.shape) != squeeze(shape) {
            return Err(AntispoofError::Weights(format!(
                "tensor {name} has shape {:?}, expected {shape:?} (does the config match the checkpoint?)",
                t.shape
            )));
        }
        Ok(t.data)
    }

    pub fn linear(
        &mut self,
        prefix: &str,
        inp: usize,
        out: usize,
    ) -> Result<Linear, AntispoofError> {
        Ok(Linear {
            inp,
            out,
            weight: self.take(&format!("{prefix}.weight"), &[out, inp])?,
            bias: self.take(&format!("{prefix}.bias"), &[out])?,
        })
    }

    /// Eval-mode batch norm as a per-channel affine map.
    pub fn batch_norm(&mut self, prefix: &str, ch: usize) -> Result<Affine, AntispoofError> {
        let w = self.take(&format!("{prefix}.weight"), &[ch])?;
        let b = self.take(&format!("{prefix}.bias"), &[ch])?;
        let mean = self.take(&format!("{prefix}.running_mean"), &[ch])?;
        let var = self.take(&format!("{prefix}.running_var"), &[ch])?;
        self.tensors
            .remove(&format!("{prefix}.num_batches_tracked"));
        let mut scale = Vec::with_capacity(ch);
        let mut shift = Vec::with_capacity(ch);
        for c in 0..ch {
            let s = f64::from(w[c]) / (f64::from(var[c]) + BN_EPS).sqrt();
            scale.push(s as f32);
            shift.push((f64::from(b[c]) - f64::from(mean[c]) * s) as f32);
        }
        Ok(Affine { scale, shift })
    }

    /// Drops tensors the forward pass never uses (upstream's unused `bn1`).
    pub fn discard_prefix(&mut self, prefix: &str) {
        self.tensors.retain(|k, _| !k.starts_with(prefix));
    }

    /// Names left over: a checkpoint of another architecture would leave some.
    pub fn leftover(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().cloned().collect();
        v.sort();
        v
    }
}

/// Per-channel `x * scale + shift`.
#[derive(Debug, Clone)]
pub struct Affine {
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
}

/// `y = W x + b` with W (out × in).
#[derive(Debug, Clone)]
pub struct Linear {
    pub inp: usize,
    pub out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Linear {
    /// Applies the layer to one vector.
    pub fn apply(&self, x: &[f32], y: &mut [f32]) {
        debug_assert_eq!(x.len(), self.inp);
        for (o, yo) in y.iter_mut().enumerate().take(self.out) {
            let row = &self.weight[o * self.inp..(o + 1) * self.inp];
            *yo = self.bias[o] + dot(row, x);
        }
    }

    /// Applies the layer to each row of an (n × in) matrix.
    pub fn apply_rows(&self, x: &Nodes) -> Nodes {
        let mut out = Nodes::zeros(x.n, self.out);
        for i in 0..x.n {
            self.apply(x.row(i), out.row_mut(i));
        }
        out
    }
}

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A set of graph nodes: (n × d) row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Nodes {
    pub n: usize,
    pub d: usize,
    pub data: Vec<f32>,
}

impl Nodes {
    pub fn zeros(n: usize, d: usize) -> Self {
        Nodes {
            n,
            d,
            data: vec![0.0; n * d],
        }
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.d..(i + 1) * self.d]
    }
}

/// A 2-D convolution, stride 1, with its weight as (out × in·kh·kw).
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub in_ch: usize,
    pub out_ch: usize,
    pub kh: usize,
    pub kw: usize,
    pub ph: usize,
    pub pw: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Conv2d {
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        w: &mut Weights,
        prefix: &str,
        in_ch: usize,
        out_ch: usize,
        (kh, kw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Result<Self, AntispoofError> {
        Ok(Conv2d {
            in_ch,
            out_ch,
            kh,
            kw,
            ph,
            pw,
            weight: w.take(&format!("{prefix}.weight"), &[out_ch, in_ch, kh, kw])?,
            bias: w.take(&format!("{prefix}.bias"), &[out_ch])?,
        })
    }

    /// Folds a following eval-mode batch norm into the weights.
    pub fn fold(&mut self, bn: &Affine) {
        let k = self.in_ch * self.kh * self.kw;
        for o in 0..self.out_ch {
            self.weight[o * k..(o + 1) * k]
                .iter_mut()
                .for_each(|v| *v *= bn.scale[o]);
            self.bias[o] = self.bias[o] * bn.scale[o] + bn.shift[o];
        }
    }

    /// Output height for an input of height `h` (width is preserved: kw = 2·pw + 1).
    pub fn out_h(&self, h: usize) -> usize {
        h + 2 * self.ph + 1 - self.kh
    }

    /// Convolves `input` (in_ch × h × w) into `out` (out_ch × out_h × w).
    /// One im2col buffer and one matrix product per output row.
    pub fn forward(
        &self,
        input: &[f32],
        h: usize,
        w: usize,
        out: &mut Vec<f32>,
        col: &mut Vec<f32>,
    ) {
        debug_assert_eq!(self.kw, 2 * self.pw + 1);
        let ho = self.out_h(h);
        let k = self.in_ch * self.kh * self.kw;
        out.clear();
        out.resize(self.out_ch * ho * w, 0.0);
        col.clear();
        col.resize(k * w, 0.0);
        for y in 0..ho {
            for ci in 0..self.in_ch {
                for dy in 0..self.kh {
                    let src_row = (y + dy).checked_sub(self.ph).filter(|&r| r < h);
                    for dx in 0..self.kw {
                        let r = (ci * self.kh + dy) * self.kw + dx;
                        let dst = &mut col[r * w..(r + 1) * w];
                        let Some(sr) = src_row else {
                            dst.fill(0.0);
                            continue;
                        };
                        let src = &input[(ci * h + sr) * w..(ci * h + sr + 1) * w];
                        // dst[j] = src[j + dx − pw], zero outside.
                        if dx < self.pw {
                            let s = (self.pw - dx).min(w);
                            dst[..s].fill(0.0);
                            dst[s..].copy_from_slice(&src[..w - s]);
                        } else {
                            let s = (dx - self.pw).min(w);
                            dst[..w - s].copy_from_slice(&src[s..]);
                            dst[w - s..].fill(0.0);
                        }
                    }
                }
            }
            gemm(
                self.out_ch,
                k,
                w,
                &self.weight,
                k,
                col,
                w,
                1,
                &mut out[y * w..],
                ho * w,
            );
        }
        for (o, &b) in out.chunks_exact_mut(ho * w).zip(&self.bias) {
            o.iter_mut().for_each(|v| *v += b);
        }
    }
}

/// `C = A·B` with A (m × k, row stride `rsa`, unit column stride), B (k × n,
/// strides `rsb`, `csb`, which may overlap: a Hankel view of a signal is a
/// valid B), C (m × n, row stride `rsc`, unit column stride). Bounds are
/// checked so the unsafe call cannot read or write out of range.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
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
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!((m - 1) * rsa + k <= a.len(), "gemm: A out of range");
    assert!(
        (k - 1) * rsb + (n - 1) * csb < b.len(),
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
            0.0,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv2d_matches_a_direct_sum() {
        // 2 → 3 channels, kernel (2, 3), padding (1, 1), on a 4 × 5 map.
        let (ci, co, h, w) = (2, 3, 4, 5);
        let weight: Vec<f32> = (0..co * ci * 6)
            .map(|i| ((i * 7) % 11) as f32 - 5.0)
            .collect();
        let bias = vec![0.5, -1.0, 2.0];
        let conv = Conv2d {
            in_ch: ci,
            out_ch: co,
            kh: 2,
            kw: 3,
            ph: 1,
            pw: 1,
            weight: weight.clone(),
            bias: bias.clone(),
        };
        let input: Vec<f32> = (0..ci * h * w)
            .map(|i| ((i * 5) % 13) as f32 * 0.25 - 1.0)
            .collect();
        let (mut out, mut col) = (Vec::new(), Vec::new());
        conv.forward(&input, h, w, &mut out, &mut col);
        let ho = h + 1;
        assert_eq!(out.len(), co * ho * w);
        for o in 0..co {
            for y in 0..ho {
                for x in 0..w {
                    let mut s = bias[o];
                    for c in 0..ci {
                        for dy in 0..2 {
                            for dx in 0..3 {
                                let (iy, ix) =
                                    (y as isize + dy as isize - 1, x as isize + dx as isize - 1);
                                if iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize {
                                    s += weight[((o * ci + c) * 2 + dy) * 3 + dx]
                                        * input[(c * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                    }
                    let got = out[(o * ho + y) * w + x];
                    assert!((got - s).abs() < 1e-4, "({o},{y},{x}): {got} vs {s}");
                }
            }
        }
    }

    #[test]
    fn vectorised_selu_matches_the_scalar_one() {
        let mut v: Vec<f32> = (-20_000..2_000).map(|i| i as f32 * 0.005).collect();
        v.extend([-1e-7, -100.0, f32::MIN_POSITIVE, 0.0]);
        let want: Vec<f32> = v.iter().map(|&x| selu(x)).collect();
        selu_slice(&mut v);
        for (g, w) in v.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
    }

    #[test]
    fn selu_matches_its_definition() {
        assert_eq!(selu(0.0), 0.0);
        assert!((selu(1.0) - 1.050_701).abs() < 1e-6);
        assert!((selu(-1.0) - 1.050_701 * 1.673_263_2 * ((-1.0f32).exp() - 1.0)).abs() < 1e-6);
    }

    #[test]
    fn missing_or_misshapen_tensors_are_weights_errors() {
        let mut t = HashMap::new();
        t.insert(
            "module.a.weight".to_owned(),
            Tensor {
                shape: vec![2, 3],
                data: vec![0.0; 6],
            },
        );
        let mut w = Weights::new(t);
        assert!(
            matches!(w.take("b", &[2, 3]), Err(AntispoofError::Weights(m)) if m.contains("missing"))
        );
        assert!(
            matches!(w.take("a.weight", &[3, 2]), Err(AntispoofError::Weights(m)) if m.contains("shape"))
        );
    }
}
