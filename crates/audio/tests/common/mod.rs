//! Helpers shared by the integration tests: synthetic signals, WAV writing, external
//! tools (espeak-ng, sox) and the optional ../shared speech data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const PI: f32 = std::f32::consts::PI;

/// A sine of `freq` Hz, amplitude `amp`, `seconds` long at `rate`.
pub fn tone(freq: f32, amp: f32, rate: u32, seconds: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds).round() as usize;
    (0..n)
        .map(|i| amp * (2.0 * PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

/// Deterministic pseudo-random values in [-1, 1].
pub fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 1.0
        })
        .collect()
}

pub fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

pub fn mean(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len().max(1) as f64
}

/// Amplitude of the `freq` component (Goertzel), for checking which tone survived.
pub fn tone_amplitude(x: &[f32], freq: f32, rate: u32) -> f32 {
    let w = 2.0 * std::f64::consts::PI * f64::from(freq) / f64::from(rate);
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    (2.0 * power.sqrt() / x.len() as f64) as f32
}

/// Interleaves channels of equal length.
pub fn interleave(channels: &[Vec<f32>]) -> Vec<f32> {
    let n = channels[0].len();
    (0..n)
        .flat_map(|i| channels.iter().map(move |c| c[i]))
        .collect()
}

/// WAV bytes written by hound: integer PCM of `bits` (8/16/24/32) or 32-bit float.
pub fn wav_bytes(interleaved: &[f32], rate: u32, channels: u16, bits: u16, float: bool) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for &v in interleaved {
            if float {
                writer.write_sample(v).unwrap();
            } else {
                let full = (1i64 << (bits - 1)) as f64;
                let q = (f64::from(v) * full).round().clamp(-full, full - 1.0) as i32;
                if bits == 8 {
                    writer.write_sample(q as i8).unwrap();
                } else {
                    writer.write_sample(q).unwrap();
                }
            }
        }
        writer.finalize().unwrap();
    }
    cursor.into_inner()
}

/// A minimal RIFF/WAVE file with an arbitrary format tag (e.g. 6 = A-law, 7 = μ-law),
/// written by hand so tests control every header field.
pub fn wav_with_tag(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block_align = channels * bits / 8;
    let mut b = Vec::with_capacity(46 + data.len());
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(38 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&18u32.to_le_bytes());
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes()); // cbSize
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// True when `tool` runs; otherwise prints why the calling test skips.
pub fn have_tool(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP {test}: `{tool}` is not installed");
    }
    ok
}

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("voiceprint-audio-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a command, panicking with its stderr if it fails (a broken tool is a test failure).
pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// espeak-ng speech of `text` as WAV bytes (22.05 kHz mono PCM16).
pub fn espeak_wav(text: &str, dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(format!("{name}.wav"));
    run(Command::new("espeak-ng").arg("-w").arg(&path).arg(text));
    std::fs::read(path).unwrap()
}

/// The ../shared data folder, or None (with a printed SKIP) when it is absent.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let base = std::env::var_os("VOICEPRINT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let data = base.join("data");
    if data.is_dir() {
        Some(data)
    } else {
        eprintln!(
            "SKIP {test}: shared speech data not found at {} (set VOICEPRINT_SHARED)",
            data.display()
        );
        None
    }
}

/// Sorted files with `ext` in `dir`.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}
