//! voiceprint-audio: call audio in, 16 kHz mono f32 speech out.
//!
//! Decodes WAV (PCM 8/16/24/32, float, G.711 μ/A-law), FLAC, MP3 and raw headerless
//! streams, picks the customer channel, removes DC offset, resamples to 16 kHz and
//! measures net speech seconds with a voice-activity detector. Synchronous and
//! allocation-conscious: no tokio here, callers put it on whatever thread they like.
//!
//! Key decision: every failure is a typed [`AudioError`]; nothing in this crate panics
//! on untrusted bytes.
//!
//! (skeleton: the audio helper owns this file and replaces this text)

/// Sample rate every downstream model consumes.
pub const MODEL_SAMPLE_RATE: u32 = 16_000;

/// Everything that can go wrong turning bytes into speech samples.
/// (the audio helper may add variants; keep messages clear for API users)
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
    #[error("invalid sample rate {0} Hz")]
    BadSampleRate(u32),
    #[error("audio is {seconds:.1} s long; the maximum is {max_seconds:.1} s")]
    TooLong { seconds: f64, max_seconds: f64 },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
