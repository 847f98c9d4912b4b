//! voiceprint-audio: call audio in, 16 kHz mono f32 speech out.
//!
//! Decodes WAV (PCM 8/16/24/32, float, G.711 μ/A-law), FLAC, MP3 ([symphonia]) and raw
//! headerless telephony streams (PCM s16le, μ-law, A-law; own G.711 tables), picks one
//! channel, removes the DC offset, resamples to 16 kHz ([rubato]'s FFT resampler) and
//! measures net speech seconds with an energy voice-activity detector. Live calls get the
//! same chain in streaming form ([`StreamingFrontEnd`], [`StreamingVad`]). Also simulates
//! the G.711 telephone channel.
//!
//! What it does not do: no async, no I/O beyond [`prepare_file`]'s read, no features or
//! embeddings (that is `voiceprint-engine`), no judgement on whether speech is spoofed.
//!
//! Key decision: every failure on untrusted bytes is a typed [`AudioError`] with a
//! message fit for an API caller; nothing here panics, and a panic inside the third-party
//! decoder is caught and reported as [`AudioError::Corrupt`].

use std::ops::Range;
use std::path::Path;

mod decode;
mod g711;
pub mod quality;
mod resample;
mod stream;
mod vad;

pub use decode::{
    decode_bytes, DecodeOptions, DecodedAudio, RawEncoding, RawFormat, MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
};
pub use g711::{alaw_to_linear, linear_to_alaw, linear_to_mulaw, mulaw_to_linear};
pub use quality::{measure_quality, AudioQuality};
pub use resample::resample;
pub use stream::StreamingFrontEnd;
pub use vad::{detect_speech, net_speech_seconds, speech_only, StreamingVad, VAD_FRAME};

/// Sample rate every downstream model consumes.
pub const MODEL_SAMPLE_RATE: u32 = 16_000;

/// Everything that can go wrong turning bytes into speech samples.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("unsupported or unrecognised audio format: {0}")]
    Unsupported(String),
    #[error("corrupt or truncated audio: {0}")]
    Corrupt(String),
    #[error("audio contains no samples")]
    Empty,
    #[error("audio contains no speech")]
    NoSpeech,
    #[error("invalid sample rate {0} Hz (accepted: 4000 to 384000 Hz)")]
    BadSampleRate(u32),
    #[error("audio is {seconds:.1} s long; the maximum is {max_seconds:.1} s")]
    TooLong { seconds: f64, max_seconds: f64 },
    #[error("channel {index} requested but the audio has {channels} channel(s)")]
    ChannelOutOfRange { index: usize, channels: usize },
    #[error("invalid decode option: {0}")]
    InvalidOption(String),
    #[error("resampling failed: {0}")]
    Resample(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Decoded, DC-free, 16 kHz mono audio with its speech segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub samples_16k: Vec<f32>,
    pub duration_seconds: f64,
    /// Speech as sample ranges of `samples_16k`, in order, non-overlapping.
    pub speech: Vec<Range<usize>>,
    pub source_sample_rate: u32,
    pub channels_in_source: usize,
    /// Mean that was subtracted (in the decoded channel's units).
    pub dc_offset_removed: f32,
    /// Samples of the decoded channel (before DC removal and resampling) that sit in
    /// flat tops at full scale: clipping ([`quality::count_clipped_samples`]).
    pub clipped_samples: usize,
}

impl Prepared {
    /// Seconds of speech found by the voice-activity detector.
    pub fn net_speech_seconds(&self) -> f64 {
        net_speech_seconds(&self.speech)
    }

    /// The speech samples only, concatenated.
    pub fn speech_samples(&self) -> Vec<f32> {
        speech_only(&self.samples_16k, &self.speech)
    }

    /// Net speech, SNR and clipping of the recording ([`quality`]).
    pub fn quality(&self) -> AudioQuality {
        measure_quality(
            &self.samples_16k,
            &self.speech,
            self.clipped_samples,
            self.source_sample_rate,
        )
    }
}

/// Reads and prepares an audio file with default [`DecodeOptions`] (channel 0, ≤ 600 s).
pub fn prepare_file(path: &Path) -> Result<Prepared, AudioError> {
    prepare_bytes(&std::fs::read(path)?, &DecodeOptions::default())
}

/// Decodes and prepares audio bytes: one channel, DC removed, 16 kHz, speech found.
///
/// Audio without speech is [`AudioError::NoSpeech`].
pub fn prepare_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<Prepared, AudioError> {
    prepare_decoded(decode_bytes(bytes, options)?)
}

/// Prepares already-decoded audio (see [`prepare_bytes`]).
pub fn prepare_decoded(decoded: DecodedAudio) -> Result<Prepared, AudioError> {
    let DecodedAudio {
        mut samples,
        sample_rate,
        channels_in_source,
        ..
    } = decoded;
    if samples.is_empty() {
        return Err(AudioError::Empty);
    }
    let clipped_samples = quality::count_clipped_samples(&samples);
    let dc_offset_removed = remove_dc_offset(&mut samples);
    let samples_16k = resample(&samples, sample_rate, MODEL_SAMPLE_RATE)?;
    let speech = detect_speech(&samples_16k);
    if speech.is_empty() {
        return Err(AudioError::NoSpeech);
    }
    Ok(Prepared {
        duration_seconds: samples_16k.len() as f64 / f64::from(MODEL_SAMPLE_RATE),
        samples_16k,
        speech,
        source_sample_rate: sample_rate,
        channels_in_source,
        dc_offset_removed,
        clipped_samples,
    })
}

/// Subtracts the mean (accumulated in f64), returning it.
pub fn remove_dc_offset(samples: &mut [f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let mean = (samples.iter().map(|&x| f64::from(x)).sum::<f64>() / samples.len() as f64) as f32;
    samples.iter_mut().for_each(|x| *x -= mean);
    mean
}

/// Passes 16 kHz audio through a telephone channel: down to 8 kHz, G.711 μ-law encode and
/// decode, back up to 16 kHz. The output has the input's length (±1 sample).
pub fn simulate_telephone_channel(samples_16k: &[f32]) -> Vec<f32> {
    // Both rates are constants inside the accepted range, so resampling cannot fail;
    // an empty result would only ever mean an internal rubato error.
    let narrow = resample(samples_16k, MODEL_SAMPLE_RATE, 8_000).unwrap_or_default();
    let coded: Vec<f32> = narrow
        .iter()
        .map(|&v| {
            f32::from(mulaw_to_linear(linear_to_mulaw(
                (v.clamp(-1.0, 1.0) * 32_767.0) as i16,
            ))) / 32_768.0
        })
        .collect();
    resample(&coded, 8_000, MODEL_SAMPLE_RATE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dc_offset_is_removed_and_reported() {
        let mut x: Vec<f32> = (0..1000)
            .map(|i| (i as f32 * 0.3).sin() * 0.2 - 0.085)
            .collect();
        let removed = remove_dc_offset(&mut x);
        assert!((removed + 0.085).abs() < 0.002, "{removed}");
        let mean = x.iter().sum::<f32>() / x.len() as f32;
        assert!(mean.abs() < 1e-5, "{mean}");
    }

    #[test]
    fn telephone_channel_keeps_voice_band_and_drops_above_4_khz() {
        let tone = |f: f32| -> Vec<f32> {
            (0..16_000)
                .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / 16_000.0).sin() * 0.5)
                .collect()
        };
        let rms = |x: &[f32]| (x[2000..14000].iter().map(|v| v * v).sum::<f32>() / 12_000.0).sqrt();
        let voice = simulate_telephone_channel(&tone(1_000.0));
        assert!(voice.len().abs_diff(16_000) <= 1);
        assert!((rms(&voice) - 0.3536).abs() < 0.01, "{}", rms(&voice));
        let high = simulate_telephone_channel(&tone(6_000.0));
        assert!(rms(&high) < 0.005, "{}", rms(&high));
    }
}
