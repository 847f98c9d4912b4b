//! ITU-T G.711 μ-law and A-law: 256-entry decode tables and the matching encoders.
//!
//! The tables are written out literally (ITU-T G.711 reference decoder values, 16-bit
//! linear) so they can be checked by eye against the standard; the encoders follow the
//! classic reference implementation (segment search, bias 0x84 for μ-law).

/// μ-law byte → 16-bit linear sample.
#[rustfmt::skip]
pub(crate) static MULAW_TO_LINEAR: [i16; 256] = [
    -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,
    -23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
    -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
    -11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316,
    -7932, -7676, -7420, -7164, -6908, -6652, -6396, -6140,
    -5884, -5628, -5372, -5116, -4860, -4604, -4348, -4092,
    -3900, -3772, -3644, -3516, -3388, -3260, -3132, -3004,
    -2876, -2748, -2620, -2492, -2364, -2236, -2108, -1980,
    -1884, -1820, -1756, -1692, -1628, -1564, -1500, -1436,
    -1372, -1308, -1244, -1180, -1116, -1052, -988, -924,
    -876, -844, -812, -780, -748, -716, -684, -652,
    -620, -588, -556, -524, -492, -460, -428, -396,
    -372, -356, -340, -324, -308, -292, -276, -260,
    -244, -228, -212, -196, -180, -164, -148, -132,
    -120, -112, -104, -96, -88, -80, -72, -64,
    -56, -48, -40, -32, -24, -16, -8, 0,
    32124, 31100, 30076, 29052, 28028, 27004, 25980, 24956,
    23932, 22908, 21884, 20860, 19836, 18812, 17788, 16764,
    15996, 15484, 14972, 14460, 13948, 13436, 12924, 12412,
    11900, 11388, 10876, 10364, 9852, 9340, 8828, 8316,
    7932, 7676, 7420, 7164, 6908, 6652, 6396, 6140,
    5884, 5628, 5372, 5116, 4860, 4604, 4348, 4092,
    3900, 3772, 3644, 3516, 3388, 3260, 3132, 3004,
    2876, 2748, 2620, 2492, 2364, 2236, 2108, 1980,
    1884, 1820, 1756, 1692, 1628, 1564, 1500, 1436,
    1372, 1308, 1244, 1180, 1116, 1052, 988, 924,
    876, 844, 812, 780, 748, 716, 684, 652,
    620, 588, 556, 524, 492, 460, 428, 396,
    372, 356, 340, 324, 308, 292, 276, 260,
    244, 228, 212, 196, 180, 164, 148, 132,
    120, 112, 104, 96, 88, 80, 72, 64,
    56, 48, 40, 32, 24, 16, 8, 0,
];

/// A-law byte → 16-bit linear sample.
#[rustfmt::skip]
pub(crate) static ALAW_TO_LINEAR: [i16; 256] = [
    -5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736,
    -7552, -7296, -8064, -7808, -6528, -6272, -7040, -6784,
    -2752, -2624, -3008, -2880, -2240, -2112, -2496, -2368,
    -3776, -3648, -4032, -3904, -3264, -3136, -3520, -3392,
    -22016, -20992, -24064, -23040, -17920, -16896, -19968, -18944,
    -30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136,
    -11008, -10496, -12032, -11520, -8960, -8448, -9984, -9472,
    -15104, -14592, -16128, -15616, -13056, -12544, -14080, -13568,
    -344, -328, -376, -360, -280, -264, -312, -296,
    -472, -456, -504, -488, -408, -392, -440, -424,
    -88, -72, -120, -104, -24, -8, -56, -40,
    -216, -200, -248, -232, -152, -136, -184, -168,
    -1376, -1312, -1504, -1440, -1120, -1056, -1248, -1184,
    -1888, -1824, -2016, -1952, -1632, -1568, -1760, -1696,
    -688, -656, -752, -720, -560, -528, -624, -592,
    -944, -912, -1008, -976, -816, -784, -880, -848,
    5504, 5248, 6016, 5760, 4480, 4224, 4992, 4736,
    7552, 7296, 8064, 7808, 6528, 6272, 7040, 6784,
    2752, 2624, 3008, 2880, 2240, 2112, 2496, 2368,
    3776, 3648, 4032, 3904, 3264, 3136, 3520, 3392,
    22016, 20992, 24064, 23040, 17920, 16896, 19968, 18944,
    30208, 29184, 32256, 31232, 26112, 25088, 28160, 27136,
    11008, 10496, 12032, 11520, 8960, 8448, 9984, 9472,
    15104, 14592, 16128, 15616, 13056, 12544, 14080, 13568,
    344, 328, 376, 360, 280, 264, 312, 296,
    472, 456, 504, 488, 408, 392, 440, 424,
    88, 72, 120, 104, 24, 8, 56, 40,
    216, 200, 248, 232, 152, 136, 184, 168,
    1376, 1312, 1504, 1440, 1120, 1056, 1248, 1184,
    1888, 1824, 2016, 1952, 1632, 1568, 1760, 1696,
    688, 656, 752, 720, 560, 528, 624, 592,
    944, 912, 1008, 976, 816, 784, 880, 848,
];

/// Decodes one μ-law byte to a 16-bit linear sample.
pub fn mulaw_to_linear(byte: u8) -> i16 {
    MULAW_TO_LINEAR[usize::from(byte)]
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(byte)]
}

/// Encodes a 16-bit linear sample as μ-law (bias 0x84, clipped at 32 635).
pub fn linear_to_mulaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.abs().min(32_635) + 0x84; // bit 7 always set
    let exponent = (31 - magnitude.leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Encodes a 16-bit linear sample as A-law (13-bit magnitude, even bits inverted).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    // Segment = number of significant bits above the 5-bit first segment.
    let segment = (32 - (pcm as u32 | 0x1F).leading_zeros() - 5) as i32;
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let mantissa = if segment < 2 {
        (pcm >> 1) & 0x0F
    } else {
        (pcm >> segment) & 0x0F
    };
    (((segment << 4) | mantissa) as u8) ^ mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_reference_values() {
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(mulaw_to_linear(0xFF), 0);
        assert_eq!(mulaw_to_linear(0x7F), 0);
        assert_eq!(mulaw_to_linear(0x7E), -8);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(alaw_to_linear(0x80), 5504);
    }

    #[test]
    fn tables_are_odd_symmetric_and_monotonic_per_sign() {
        for b in 0..128u8 {
            assert_eq!(
                mulaw_to_linear(b),
                -mulaw_to_linear(b | 0x80),
                "μ-law {b:#x}"
            );
            assert_eq!(alaw_to_linear(b), -alaw_to_linear(b | 0x80), "A-law {b:#x}");
        }
        // μ-law: larger code (within a sign) = smaller magnitude.
        for b in 0x80..0xFFu8 {
            assert!(mulaw_to_linear(b) > mulaw_to_linear(b + 1));
        }
    }

    #[test]
    fn encoders_invert_the_tables() {
        for b in 0..=255u8 {
            let expected_mu = if b == 0x7F { 0xFF } else { b }; // both zeros encode as +0
            assert_eq!(
                linear_to_mulaw(mulaw_to_linear(b)),
                expected_mu,
                "μ-law {b:#x}"
            );
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "A-law {b:#x}");
        }
    }

    #[test]
    fn round_trip_error_is_within_the_step_size() {
        for s in (-32_000i16..32_000).step_by(97) {
            let mu_err = (i32::from(mulaw_to_linear(linear_to_mulaw(s))) - i32::from(s)).abs();
            let a_err = (i32::from(alaw_to_linear(linear_to_alaw(s))) - i32::from(s)).abs();
            // Step size grows with magnitude: at most 1/16 of the value plus the first step.
            assert!(mu_err <= i32::from(s).abs() / 16 + 8, "μ-law {s}: {mu_err}");
            assert!(a_err <= i32::from(s).abs() / 16 + 16, "A-law {s}: {a_err}");
        }
    }
}
