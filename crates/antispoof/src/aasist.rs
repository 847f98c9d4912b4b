//! AASIST (Jung et al., ICASSP 2022) forward pass in eval mode, laid out as
//! the released PyTorch model (clovaai/aasist `models/AASIST.py`) so that its
//! state-dict names load unchanged: sinc front end, residual encoder,
//! spectral and temporal graph attention, two heterogeneous stacked graph
//! attention branches (HS-GAL) with master nodes, max/mean readout.
//!
//! Faithful to upstream quirks that the weights were trained with: the
//! residual block's `bn1` is computed and discarded (its `conv1` reads the
//! block input), and graph pooling multiplies kept nodes by their score.

use std::path::Path;

use voiceprint_engine::torch_zip;

use crate::config::{AasistConfig, SPECTRAL_NODES};
use crate::nn::{dot, gemm, selu, selu_slice, sigmoid, Affine, Conv2d, Linear, Nodes, Weights};
use crate::AntispoofError;

/// One loaded AASIST checkpoint. Immutable after loading, so `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Aasist {
    config: AasistConfig,
    sinc: Vec<f32>,
    first_bn: (f32, f32),
    blocks: Vec<ResidualBlock>,
    pos_s: Vec<f32>,
    master1: Vec<f32>,
    master2: Vec<f32>,
    gat_s: Gat,
    gat_t: Gat,
    st11: HtrgGat,
    st12: HtrgGat,
    st21: HtrgGat,
    st22: HtrgGat,
    pool_s: GraphPool,
    pool_t: GraphPool,
    pool_hs1: GraphPool,
    pool_ht1: GraphPool,
    pool_hs2: GraphPool,
    pool_ht2: GraphPool,
    out_layer: Linear,
}

#[derive(Debug, Clone)]
struct ResidualBlock {
    /// conv1 with bn2 folded in (bn2 directly follows conv1).
    conv1: Conv2d,
    conv2: Conv2d,
    downsample: Option<Conv2d>,
}

#[derive(Debug, Clone)]
struct Gat {
    att_proj: Linear,
    att_weight: Vec<f32>,
    proj_with_att: Linear,
    proj_without_att: Linear,
    bn: Affine,
    temp: f32,
}

#[derive(Debug, Clone)]
struct HtrgGat {
    proj_type1: Linear,
    proj_type2: Linear,
    att_proj: Linear,
    att_proj_m: Linear,
    att_weight11: Vec<f32>,
    att_weight22: Vec<f32>,
    att_weight12: Vec<f32>,
    att_weight_m: Vec<f32>,
    proj_with_att: Linear,
    proj_without_att: Linear,
    proj_with_att_m: Linear,
    proj_without_att_m: Linear,
    bn: Affine,
    temp: f32,
}

#[derive(Debug, Clone)]
struct GraphPool {
    proj: Linear,
    ratio: f64,
}

impl Aasist {
    /// Loads a `.conf` (architecture) and a zip-format `.pth` (state dict).
    pub fn load(conf: &Path, weights: &Path) -> Result<Self, AntispoofError> {
        let config = AasistConfig::from_file(conf)?;
        let tensors = torch_zip::load_state_dict(weights)
            .map_err(|e| AntispoofError::Weights(format!("{}: {e}", weights.display())))?;
        Self::from_state_dict(config, Weights::new(tensors)).map_err(|e| match e {
            AntispoofError::Weights(m) => {
                AntispoofError::Weights(format!("{}: {m}", weights.display()))
            }
            other => other,
        })
    }

    pub fn from_state_dict(config: AasistConfig, mut w: Weights) -> Result<Self, AntispoofError> {
        let (_, b1, b2, b3, b4) = config.filts;
        let fb = w.batch_norm("first_bn", 1)?;
        let chans = [b1, b2, b3, b4, b4, b4];
        let mut blocks = Vec::with_capacity(6);
        for (i, [cin, cout]) in chans.into_iter().enumerate() {
            let p = format!("encoder.{i}.0");
            let mut conv1 = Conv2d::load(&mut w, &format!("{p}.conv1"), cin, cout, (2, 3), (1, 1))?;
            conv1.fold(&w.batch_norm(&format!("{p}.bn2"), cout)?);
            let conv2 = Conv2d::load(&mut w, &format!("{p}.conv2"), cout, cout, (2, 3), (0, 1))?;
            let downsample = if cin != cout {
                Some(Conv2d::load(
                    &mut w,
                    &format!("{p}.conv_downsample"),
                    cin,
                    cout,
                    (1, 3),
                    (0, 1),
                )?)
            } else {
                None
            };
            // Upstream computes bn1 and then ignores it; its weights are unused.
            w.discard_prefix(&format!("{p}.bn1."));
            blocks.push(ResidualBlock {
                conv1,
                conv2,
                downsample,
            });
        }
        let enc = b4[1];
        let [g0, g1] = config.gat_dims;
        let t = config.temperatures;
        let r = config.pool_ratios;
        let model = Aasist {
            sinc: config.sinc_filters(),
            first_bn: (fb.scale[0], fb.shift[0]),
            blocks,
            pos_s: w.take("pos_S", &[1, SPECTRAL_NODES, enc])?,
            master1: w.take("master1", &[1, 1, g0])?,
            master2: w.take("master2", &[1, 1, g0])?,
            gat_s: Gat::load(&mut w, "GAT_layer_S", enc, g0, t[0])?,
            gat_t: Gat::load(&mut w, "GAT_layer_T", enc, g0, t[1])?,
            st11: HtrgGat::load(&mut w, "HtrgGAT_layer_ST11", g0, g1, t[2])?,
            st12: HtrgGat::load(&mut w, "HtrgGAT_layer_ST12", g1, g1, t[2])?,
            st21: HtrgGat::load(&mut w, "HtrgGAT_layer_ST21", g0, g1, t[2])?,
            st22: HtrgGat::load(&mut w, "HtrgGAT_layer_ST22", g1, g1, t[2])?,
            pool_s: GraphPool::load(&mut w, "pool_S", g0, r[0])?,
            pool_t: GraphPool::load(&mut w, "pool_T", g0, r[1])?,
            pool_hs1: GraphPool::load(&mut w, "pool_hS1", g1, r[2])?,
            pool_ht1: GraphPool::load(&mut w, "pool_hT1", g1, r[2])?,
            pool_hs2: GraphPool::load(&mut w, "pool_hS2", g1, r[2])?,
            pool_ht2: GraphPool::load(&mut w, "pool_hT2", g1, r[2])?,
            out_layer: w.linear("out_layer", 5 * g1, 2)?,
            config,
        };
        let left = w.leftover();
        if !left.is_empty() {
            return Err(AntispoofError::Weights(format!(
                "checkpoint has tensors this architecture does not use: {}",
                left.join(", ")
            )));
        }
        Ok(model)
    }

    pub fn config(&self) -> &AasistConfig {
        &self.config
    }

    /// Samples in one input window.
    pub fn window_len(&self) -> usize {
        self.config.nb_samp
    }

    /// Logits `[spoof, bona fide]` for exactly one window of 16 kHz samples.
    pub fn logits(&self, window: &[f32]) -> Result<[f32; 2], AntispoofError> {
        if window.len() != self.config.nb_samp {
            return Err(AntispoofError::InvalidInput(format!(
                "a window has {} samples, the model takes {}",
                window.len(),
                self.config.nb_samp
            )));
        }
        let (e, ch, h, w) = self.encode(window);
        Ok(self.back_end(&e, ch, h, w))
    }

    /// Sinc front end and residual encoder: returns (map, channels, height, width).
    fn encode(&self, x: &[f32]) -> (Vec<f32>, usize, usize, usize) {
        let k = self.config.kernel_size();
        let chans = self.config.filts.0;
        let t = x.len() + 1 - k;
        // Sinc conv as one product with the signal's Hankel view (row stride 1, column
        // stride 1): B[k][t] = x[t + k].
        let mut band = vec![0.0f32; chans * t];
        gemm(chans, k, t, &self.sinc, k, x, 1, 1, &mut band, t);
        // |·|, 3 × 3 max pool (floor), first_bn (one channel), SELU.
        let (h, w) = (chans / 3, t / 3);
        let (s, b) = self.first_bn;
        let mut map = vec![0.0f32; h * w];
        for y in 0..h {
            let rows = [
                &band[(3 * y) * t..(3 * y + 1) * t],
                &band[(3 * y + 1) * t..(3 * y + 2) * t],
                &band[(3 * y + 2) * t..(3 * y + 3) * t],
            ];
            for (xo, m) in map[y * w..(y + 1) * w].iter_mut().enumerate() {
                let mut v = 0.0f32;
                for r in rows {
                    v = v
                        .max(r[3 * xo].abs())
                        .max(r[3 * xo + 1].abs())
                        .max(r[3 * xo + 2].abs());
                }
                *m = selu(v * s + b);
            }
        }
        drop(band);
        let (mut ch, mut w) = (1usize, w);
        let (mut a, mut b2, mut col) = (Vec::new(), Vec::new(), Vec::new());
        for block in &self.blocks {
            // out = conv2(selu(bn2(conv1(x)))) + (downsample(x) | x), then (1, 3) max pool.
            block.conv1.forward(&map, h, w, &mut a, &mut col);
            selu_slice(&mut a);
            let h1 = block.conv1.out_h(h);
            block.conv2.forward(&a, h1, w, &mut b2, &mut col);
            debug_assert_eq!(block.conv2.out_h(h1), h);
            match &block.downsample {
                Some(ds) => {
                    ds.forward(&map, h, w, &mut a, &mut col);
                    b2.iter_mut().zip(&a).for_each(|(o, i)| *o += i);
                }
                None => b2.iter_mut().zip(&map).for_each(|(o, i)| *o += i),
            }
            ch = block.conv2.out_ch;
            let wo = w / 3;
            map.clear();
            map.resize(ch * h * wo, 0.0);
            for (dst, src) in map.chunks_exact_mut(wo).zip(b2.chunks_exact(w)) {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = src[3 * j].max(src[3 * j + 1]).max(src[3 * j + 2]);
                }
            }
            w = wo;
        }
        (map, ch, h, w)
    }

    /// Graph attention back end on the encoder output (ch × h × w).
    fn back_end(&self, e: &[f32], ch: usize, h: usize, w: usize) -> [f32; 2] {
        // Spectral nodes: max |e| over time, plus the positional embedding.
        let mut e_s = Nodes::zeros(h, ch);
        let mut e_t = Nodes::zeros(w, ch);
        for c in 0..ch {
            for y in 0..h {
                let row = &e[(c * h + y) * w..(c * h + y + 1) * w];
                let mut m = 0.0f32;
                for (x, &v) in row.iter().enumerate() {
                    m = m.max(v.abs());
                    let t = &mut e_t.data[x * ch + c];
                    *t = t.max(v.abs());
                }
                e_s.data[y * ch + c] = m + self.pos_s[y * ch + c];
            }
        }
        let out_s = self.pool_s.forward(&self.gat_s.forward(&e_s));
        let out_t = self.pool_t.forward(&self.gat_t.forward(&e_t));

        let branch =
            |first: &HtrgGat, second: &HtrgGat, ps: &GraphPool, pt: &GraphPool, m: &[f32]| {
                let (t1, s1, m1) = first.forward(&out_t, &out_s, m);
                let (s1, t1) = (ps.forward(&s1), pt.forward(&t1));
                let (ta, sa, ma) = second.forward(&t1, &s1, &m1);
                let add = |a: &Nodes, b: &Nodes| Nodes {
                    n: a.n,
                    d: a.d,
                    data: a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect(),
                };
                let m: Vec<f32> = m1.iter().zip(&ma).map(|(x, y)| x + y).collect();
                (add(&t1, &ta), add(&s1, &sa), m)
            };
        let (t1, s1, m1) = branch(
            &self.st11,
            &self.st12,
            &self.pool_hs1,
            &self.pool_ht1,
            &self.master1,
        );
        let (t2, s2, m2) = branch(
            &self.st21,
            &self.st22,
            &self.pool_hs2,
            &self.pool_ht2,
            &self.master2,
        );
        let max =
            |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x.max(*y)).collect::<Vec<_>>();
        let out_t = Nodes {
            n: t1.n,
            d: t1.d,
            data: max(&t1.data, &t2.data),
        };
        let out_s = Nodes {
            n: s1.n,
            d: s1.d,
            data: max(&s1.data, &s2.data),
        };
        let master = max(&m1, &m2);

        let mut hidden = Vec::with_capacity(5 * out_t.d);
        for nodes in [&out_t, &out_s] {
            let mut mx = vec![0.0f32; nodes.d];
            let mut mean = vec![0.0f32; nodes.d];
            for i in 0..nodes.n {
                for (j, &v) in nodes.row(i).iter().enumerate() {
                    mx[j] = mx[j].max(v.abs());
                    mean[j] += v;
                }
            }
            mean.iter_mut().for_each(|v| *v /= nodes.n as f32);
            hidden.extend(mx);
            hidden.extend(mean);
        }
        hidden.extend(master);
        let mut out = [0.0f32; 2];
        self.out_layer.apply(&hidden, &mut out);
        out
    }
}

/// Row-wise softmax of an (n × n) matrix, in place.
fn softmax_rows(a: &mut [f32], n: usize) {
    for row in a.chunks_exact_mut(n) {
        softmax(row);
    }
}

fn softmax(v: &mut [f32]) {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    v.iter_mut().for_each(|x| {
        *x = (*x - m).exp();
        sum += *x;
    });
    v.iter_mut().for_each(|x| *x /= sum);
}

/// `A · X` for an (n × n) attention matrix and (n × d) nodes.
fn attend(att: &[f32], x: &Nodes) -> Nodes {
    let mut out = Nodes::zeros(x.n, x.d);
    for i in 0..x.n {
        let dst = &mut out.data[i * x.d..(i + 1) * x.d];
        for j in 0..x.n {
            let a = att[i * x.n + j];
            dst.iter_mut().zip(x.row(j)).for_each(|(o, v)| *o += a * v);
        }
    }
    out
}

/// Pairwise attention logits: `w_ij · tanh(att_proj(x_i ⊙ x_j))`, with the
/// weight vector chosen per (i, j) by `pick`. All n² products go through
/// `att_proj` as one matrix product.
fn pairwise_logits<'a>(
    x: &Nodes,
    att_proj: &Linear,
    pick: impl Fn(usize, usize) -> &'a [f32],
    temp: f32,
) -> Vec<f32> {
    let (n, d, o) = (x.n, x.d, att_proj.out);
    let mut prods = vec![0.0f32; n * n * d];
    for i in 0..n {
        for j in 0..n {
            prods[(i * n + j) * d..(i * n + j + 1) * d]
                .iter_mut()
                .zip(x.row(i).iter().zip(x.row(j)))
                .for_each(|(p, (a, b))| *p = a * b);
        }
    }
    // (n² × d) · Wᵀ: W is (o × d) row-major, so Wᵀ has row stride 1, column stride d.
    let mut proj = vec![0.0f32; n * n * o];
    gemm(n * n, d, o, &prods, d, &att_proj.weight, 1, d, &mut proj, o);
    let mut logits = vec![0.0f32; n * n];
    for (ij, (p, l)) in proj.chunks_exact_mut(o).zip(logits.iter_mut()).enumerate() {
        p.iter_mut()
            .zip(&att_proj.bias)
            .for_each(|(v, b)| *v = (*v + b).tanh());
        *l = dot(p, pick(ij / n, ij % n)) / temp;
    }
    logits
}

/// `proj_with(A·x) + proj_without(x)`, batch norm, SELU.
fn project(att: &[f32], x: &Nodes, with: &Linear, without: &Linear, bn: &Affine) -> Nodes {
    let agg = with.apply_rows(&attend(att, x));
    let mut out = without.apply_rows(x);
    for i in 0..out.n {
        for (j, (o, a)) in out.row_mut(i).iter_mut().zip(agg.row(i)).enumerate() {
            *o = selu((*o + a) * bn.scale[j] + bn.shift[j]);
        }
    }
    out
}

impl Gat {
    fn load(
        w: &mut Weights,
        p: &str,
        inp: usize,
        out: usize,
        temp: f32,
    ) -> Result<Self, AntispoofError> {
        Ok(Gat {
            att_proj: w.linear(&format!("{p}.att_proj"), inp, out)?,
            att_weight: w.take(&format!("{p}.att_weight"), &[out, 1])?,
            proj_with_att: w.linear(&format!("{p}.proj_with_att"), inp, out)?,
            proj_without_att: w.linear(&format!("{p}.proj_without_att"), inp, out)?,
            bn: w.batch_norm(&format!("{p}.bn"), out)?,
            temp,
        })
    }

    fn forward(&self, x: &Nodes) -> Nodes {
        let mut att = pairwise_logits(x, &self.att_proj, |_, _| &self.att_weight, self.temp);
        softmax_rows(&mut att, x.n);
        project(
            &att,
            x,
            &self.proj_with_att,
            &self.proj_without_att,
            &self.bn,
        )
    }
}

impl HtrgGat {
    fn load(
        w: &mut Weights,
        p: &str,
        inp: usize,
        out: usize,
        temp: f32,
    ) -> Result<Self, AntispoofError> {
        Ok(HtrgGat {
            proj_type1: w.linear(&format!("{p}.proj_type1"), inp, inp)?,
            proj_type2: w.linear(&format!("{p}.proj_type2"), inp, inp)?,
            att_proj: w.linear(&format!("{p}.att_proj"), inp, out)?,
            att_proj_m: w.linear(&format!("{p}.att_projM"), inp, out)?,
            att_weight11: w.take(&format!("{p}.att_weight11"), &[out, 1])?,
            att_weight22: w.take(&format!("{p}.att_weight22"), &[out, 1])?,
            att_weight12: w.take(&format!("{p}.att_weight12"), &[out, 1])?,
            att_weight_m: w.take(&format!("{p}.att_weightM"), &[out, 1])?,
            proj_with_att: w.linear(&format!("{p}.proj_with_att"), inp, out)?,
            proj_without_att: w.linear(&format!("{p}.proj_without_att"), inp, out)?,
            proj_with_att_m: w.linear(&format!("{p}.proj_with_attM"), inp, out)?,
            proj_without_att_m: w.linear(&format!("{p}.proj_without_attM"), inp, out)?,
            bn: w.batch_norm(&format!("{p}.bn"), out)?,
            temp,
        })
    }

    /// Returns (type-1 nodes, type-2 nodes, master) after one heterogeneous layer.
    fn forward(&self, x1: &Nodes, x2: &Nodes, master: &[f32]) -> (Nodes, Nodes, Vec<f32>) {
        let (n1, n2) = (x1.n, x2.n);
        let p1 = self.proj_type1.apply_rows(x1);
        let p2 = self.proj_type2.apply_rows(x2);
        let mut x = Nodes::zeros(n1 + n2, p1.d);
        x.data[..p1.data.len()].copy_from_slice(&p1.data);
        x.data[p1.data.len()..].copy_from_slice(&p2.data);

        let pick = |i: usize, j: usize| -> &[f32] {
            match (i < n1, j < n1) {
                (true, true) => &self.att_weight11,
                (false, false) => &self.att_weight22,
                _ => &self.att_weight12,
            }
        };
        let mut att = pairwise_logits(&x, &self.att_proj, pick, self.temp);
        softmax_rows(&mut att, x.n);

        // Master node: attention over all nodes, from x ⊙ master.
        let mut m_logits = vec![0.0f32; x.n];
        let mut prod = vec![0.0f32; x.d];
        let mut proj = vec![0.0f32; self.att_proj_m.out];
        for (i, l) in m_logits.iter_mut().enumerate() {
            prod.iter_mut()
                .zip(x.row(i).iter().zip(master))
                .for_each(|(p, (a, b))| *p = a * b);
            self.att_proj_m.apply(&prod, &mut proj);
            proj.iter_mut().for_each(|v| *v = v.tanh());
            *l = dot(&proj, &self.att_weight_m) / self.temp;
        }
        softmax(&mut m_logits);
        let mut agg = vec![0.0f32; x.d];
        for (i, &a) in m_logits.iter().enumerate() {
            agg.iter_mut().zip(x.row(i)).for_each(|(o, v)| *o += a * v);
        }
        let mut new_master = vec![0.0f32; self.proj_with_att_m.out];
        let mut rest = vec![0.0f32; self.proj_without_att_m.out];
        self.proj_with_att_m.apply(&agg, &mut new_master);
        self.proj_without_att_m.apply(master, &mut rest);
        new_master.iter_mut().zip(&rest).for_each(|(a, b)| *a += b);

        let y = project(
            &att,
            &x,
            &self.proj_with_att,
            &self.proj_without_att,
            &self.bn,
        );
        let d = y.d;
        let y1 = Nodes {
            n: n1,
            d,
            data: y.data[..n1 * d].to_vec(),
        };
        let y2 = Nodes {
            n: n2,
            d,
            data: y.data[n1 * d..].to_vec(),
        };
        (y1, y2, new_master)
    }
}

impl GraphPool {
    fn load(w: &mut Weights, p: &str, inp: usize, ratio: f64) -> Result<Self, AntispoofError> {
        Ok(GraphPool {
            proj: w.linear(&format!("{p}.proj"), inp, 1)?,
            ratio,
        })
    }

    /// Keeps the top-k nodes by sigmoid score (descending, as `torch.topk`),
    /// each multiplied by its score.
    fn forward(&self, h: &Nodes) -> Nodes {
        let k = AasistConfig::pooled(h.n, self.ratio);
        let mut scored: Vec<(usize, f32)> = (0..h.n)
            .map(|i| {
                let mut s = [0.0f32];
                self.proj.apply(h.row(i), &mut s);
                (i, sigmoid(s[0]))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut out = Nodes::zeros(k, h.d);
        for (r, &(i, s)) in scored.iter().take(k).enumerate() {
            out.row_mut(r)
                .iter_mut()
                .zip(h.row(i))
                .for_each(|(o, v)| *o = v * s);
        }
        out
    }
}
