//! The `model_config` part of an AASIST `.conf` file (JSON, as shipped with
//! the checkpoints), and the fixed sinc filterbank it implies.

use std::path::Path;

use serde::Deserialize;

use crate::AntispoofError;

/// Architecture hyper-parameters of one AASIST checkpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AasistConfig {
    /// Samples per input window (64,600 ≈ 4.04 s at 16 kHz for every released model).
    pub nb_samp: usize,
    /// Sinc filter length (made odd: 128 → 129).
    pub first_conv: usize,
    /// `[sinc_channels, [in, out] × 4]` for the residual encoder.
    pub filts: (usize, [usize; 2], [usize; 2], [usize; 2], [usize; 2]),
    pub gat_dims: [usize; 2],
    pub pool_ratios: [f64; 4],
    pub temperatures: [f32; 4],
}

#[derive(Deserialize)]
struct ConfFile {
    model_config: AasistConfig,
}

impl AasistConfig {
    /// Reads the `model_config` object of an AASIST `.conf` file.
    pub fn from_file(path: &Path) -> Result<Self, AntispoofError> {
        let text = std::fs::read_to_string(path).map_err(|e| AntispoofError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Self::from_json(&text).map_err(|e| match e {
            AntispoofError::Config(m) => AntispoofError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses the text of a `.conf` file.
    pub fn from_json(text: &str) -> Result<Self, AntispoofError> {
        let conf: ConfFile =
            serde_json::from_str(text).map_err(|e| AntispoofError::Config(e.to_string()))?;
        conf.model_config.validate()?;
        Ok(conf.model_config)
    }

    fn validate(&self) -> Result<(), AntispoofError> {
        let bad = |m: &str| Err(AntispoofError::Config(m.to_owned()));
        let (sinc, b1, b2, b3, b4) = self.filts;
        if sinc / 3 != SPECTRAL_NODES {
            // pos_S has 23 rows: the spectral axis after the 3×3 pool must be 23.
            return bad(
                "filts[0] must give 23 spectral nodes after pooling (69..=71 sinc channels)",
            );
        }
        if b1[0] != 1 || b1[1] != b2[0] || b2[1] != b3[0] || b3[1] != b4[0] || b4[0] != b4[1] {
            return bad("filts blocks must chain: [1, a], [a, b], [b, c], [c, c]");
        }
        // Checked: a hostile first_conv must not overflow the product (fuzzing found it).
        if self.first_conv < 3 || self.nb_samp / 20 < self.first_conv {
            return bad("first_conv / nb_samp out of range");
        }
        if self.pool_ratios.iter().any(|&r| !(r > 0.0 && r <= 1.0)) {
            return bad("pool_ratios must be in (0, 1]");
        }
        if self
            .temperatures
            .iter()
            .any(|&t| !(t > 0.0 && t.is_finite()))
        {
            return bad("temperatures must be positive");
        }
        if self.gat_dims.contains(&0) {
            return bad("gat_dims must be positive");
        }
        Ok(())
    }

    /// Sinc filter length, forced odd as upstream does.
    pub fn kernel_size(&self) -> usize {
        self.first_conv | 1
    }

    /// The fixed band-pass filterbank (`sinc_channels × kernel_size`, row-major):
    /// mel-spaced bands between 0 and 8 kHz, ideal band-pass `sinc` differences
    /// under a Hamming window. Computed in f64, stored as f32 like upstream.
    pub fn sinc_filters(&self) -> Vec<f32> {
        const SR: f64 = 16_000.0;
        let to_mel = |hz: f64| 2595.0 * (1.0 + hz / 700.0).log10();
        let to_hz = |mel: f64| 700.0 * (10f64.powf(mel / 2595.0) - 1.0);
        let channels = self.filts.0;
        let k = self.kernel_size();
        // Upstream spaces bands evenly in mel between the ends of the 512-point FFT's
        // frequency grid, 0 Hz and int(SR / 2) Hz (mel is monotonic).
        let mel_min = to_mel(0.0);
        let mel_max = to_mel(8_000.0);
        let edges: Vec<f64> = (0..=channels)
            .map(|i| {
                if i == channels {
                    to_hz(mel_max)
                } else {
                    to_hz(mel_min + i as f64 * (mel_max - mel_min) / channels as f64)
                }
            })
            .collect();
        let half = (k - 1) as f64 / 2.0;
        let sinc = |x: f64| {
            let y = std::f64::consts::PI * if x == 0.0 { 1e-20 } else { x };
            y.sin() / y
        };
        let hamming =
            |n: usize| 0.54 - 0.46 * (2.0 * std::f64::consts::PI * n as f64 / (k - 1) as f64).cos();
        let mut out = Vec::with_capacity(channels * k);
        for c in 0..channels {
            let (fmin, fmax) = (edges[c], edges[c + 1]);
            for n in 0..k {
                // Upstream's support is a float32 tensor -64..=64: exact integers.
                let t = n as f64 - half;
                let high = 2.0 * fmax / SR * sinc(2.0 * fmax * t / SR);
                let low = 2.0 * fmin / SR * sinc(2.0 * fmin * t / SR);
                out.push((hamming(n) * (high - low)) as f32);
            }
        }
        out
    }

    /// Number of nodes a graph pool keeps: `max(int(n · ratio), 1)` as upstream.
    pub fn pooled(n: usize, ratio: f64) -> usize {
        ((n as f64 * ratio) as usize).max(1)
    }
}

/// Spectral nodes of the encoder output (the height of its feature map).
pub const SPECTRAL_NODES: usize = 23;

#[cfg(test)]
mod tests {
    use super::*;

    const AASIST_CONF: &str = r#"{"model_path": "x.pth", "model_config": {
        "architecture": "AASIST", "nb_samp": 64600, "first_conv": 128,
        "filts": [70, [1, 32], [32, 32], [32, 64], [64, 64]],
        "gat_dims": [64, 32], "pool_ratios": [0.5, 0.7, 0.5, 0.5],
        "temperatures": [2.0, 2.0, 100.0, 100.0]}}"#;

    /// Found by the `antispoof_config` fuzz target: `20 * first_conv` overflowed.
    #[test]
    fn huge_first_conv_is_a_config_error_not_an_overflow() {
        let text = r#"{"model_config":{"nb_samp":0,"first_conv":5222222222222222228,"filts":[70,[1,32],[32,32],[32,64],[64,64]],"gat_dims":[5,2],"pool_ratios":[0.5,0.7,0.5,0.5],"temperatures":[2,2,100,100]}}"#;
        assert!(matches!(
            AasistConfig::from_json(text),
            Err(crate::AntispoofError::Config(_))
        ));
    }

    #[test]
    fn parses_the_released_config() {
        let c = AasistConfig::from_json(AASIST_CONF).unwrap();
        assert_eq!(c.kernel_size(), 129);
        assert_eq!(c.filts.3, [32, 64]);
        assert_eq!(c.gat_dims, [64, 32]);
    }

    #[test]
    fn sinc_bank_is_symmetric_band_pass() {
        let c = AasistConfig::from_json(AASIST_CONF).unwrap();
        let f = c.sinc_filters();
        let k = c.kernel_size();
        assert_eq!(f.len(), 70 * k);
        for row in f.chunks_exact(k) {
            for n in 0..k / 2 {
                assert!(
                    (row[n] - row[k - 1 - n]).abs() < 1e-7,
                    "filters are symmetric"
                );
            }
        }
        // The first band starts at 0 Hz, so its DC gain is ≈ its upper edge / Nyquist
        // (a low-pass); later bands reject DC (sum of taps near 0).
        let dc = |row: &[f32]| row.iter().sum::<f32>();
        assert!(dc(&f[..k]) > 0.005);
        assert!(dc(&f[35 * k..36 * k]).abs() < 0.01);
    }

    #[test]
    fn bad_configs_are_config_errors() {
        assert!(matches!(
            AasistConfig::from_json("{not json"),
            Err(AntispoofError::Config(_))
        ));
        let wrong = AASIST_CONF.replace("[32, 64], [64, 64]", "[32, 64], [48, 64]");
        assert!(matches!(
            AasistConfig::from_json(&wrong),
            Err(AntispoofError::Config(m)) if m.contains("chain")
        ));
    }

    #[test]
    fn pool_sizes_follow_python_int_truncation() {
        assert_eq!(AasistConfig::pooled(23, 0.5), 11);
        assert_eq!(AasistConfig::pooled(29, 0.7), 20);
        assert_eq!(AasistConfig::pooled(14, 0.7), 9);
        assert_eq!(AasistConfig::pooled(1, 0.4), 1);
    }
}
