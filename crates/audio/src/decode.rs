//! Bytes → one channel of f32 samples at the source rate.
//!
//! Containers (WAV incl. G.711 tags 6/7, FLAC, MP3) go through symphonia; headerless
//! telephony streams (`pcm_s16le`, μ-law, A-law) are described by a [`RawFormat`] and
//! decoded here with the G.711 tables. Limits (rate range, channel index, length) are
//! checked as early as the container allows so a 10-hour upload is refused before it is
//! decoded.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::g711::{alaw_to_linear, mulaw_to_linear};
use crate::AudioError;

/// Lowest source rate accepted (Hz). Narrower than any telephone channel is not speech audio.
pub const MIN_SAMPLE_RATE: u32 = 4_000;
/// Highest source rate accepted (Hz).
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// Sample encoding of a headerless stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawEncoding {
    /// Signed 16-bit little-endian linear PCM.
    PcmS16le,
    /// ITU-T G.711 μ-law, one byte per sample.
    Mulaw,
    /// ITU-T G.711 A-law, one byte per sample.
    Alaw,
}

impl RawEncoding {
    fn bytes_per_sample(self) -> usize {
        match self {
            RawEncoding::PcmS16le => 2,
            RawEncoding::Mulaw | RawEncoding::Alaw => 1,
        }
    }
}

/// Layout of a headerless stream (telephony media: Twilio, AudioSocket, RTP payloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFormat {
    pub encoding: RawEncoding,
    pub sample_rate: u32,
    /// Interleaved channel count.
    pub channels: u16,
}

/// How to decode: which channel to keep, the longest audio accepted, and for headerless
/// input its layout.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Channel kept from multi-channel audio (0-based; e.g. the customer leg of a call).
    pub channel_index: usize,
    /// Longest audio accepted, in seconds.
    pub max_seconds: f64,
    /// `Some` for headerless input; `None` to detect the container from the bytes.
    pub raw: Option<RawFormat>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            channel_index: 0,
            max_seconds: 600.0,
            raw: None,
        }
    }
}

/// One decoded channel at the source rate, DC offset still present.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Samples of the chosen channel, nominally in [-1, 1].
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels_in_source: usize,
    /// Codec that was decoded, e.g. "pcm_s16le", "flac", "mp3", "pcm_mulaw".
    pub codec: String,
}

impl DecodedAudio {
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Decodes `bytes` (a container file, or a headerless stream when `options.raw` is set).
///
/// Errors: [`AudioError::Unsupported`] for unknown containers/codecs, [`AudioError::Corrupt`]
/// for malformed or truncated data, [`AudioError::BadSampleRate`], [`AudioError::ChannelOutOfRange`],
/// [`AudioError::TooLong`], [`AudioError::Empty`]. Never panics: a panic inside the
/// third-party decoder is caught and reported as `Corrupt`.
pub fn decode_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<DecodedAudio, AudioError> {
    // Written to also refuse NaN.
    if options.max_seconds.is_nan() || options.max_seconds <= 0.0 {
        return Err(AudioError::InvalidOption(format!(
            "max_seconds must be positive, got {}",
            options.max_seconds
        )));
    }
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    let decoded = match options.raw {
        Some(raw) => decode_raw(bytes, raw, options)?,
        None => catch_unwind(AssertUnwindSafe(|| decode_container(bytes, options)))
            .map_err(|_| AudioError::Corrupt("the decoder failed on malformed data".into()))??,
    };
    if decoded.samples.is_empty() {
        return Err(AudioError::Empty);
    }
    Ok(decoded)
}

fn check_rate(rate: u32) -> Result<(), AudioError> {
    if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(AudioError::BadSampleRate(rate))
    }
}

fn check_channel(index: usize, channels: usize) -> Result<(), AudioError> {
    if channels == 0 {
        return Err(AudioError::Corrupt("audio declares zero channels".into()));
    }
    if index >= channels {
        return Err(AudioError::ChannelOutOfRange { index, channels });
    }
    Ok(())
}

fn check_length(frames: u64, rate: u32, max_seconds: f64) -> Result<(), AudioError> {
    let seconds = frames as f64 / f64::from(rate);
    if seconds > max_seconds {
        return Err(AudioError::TooLong {
            seconds,
            max_seconds,
        });
    }
    Ok(())
}

fn decode_raw(
    bytes: &[u8],
    raw: RawFormat,
    options: &DecodeOptions,
) -> Result<DecodedAudio, AudioError> {
    check_rate(raw.sample_rate)?;
    let channels = usize::from(raw.channels);
    check_channel(options.channel_index, channels)?;
    let width = raw.encoding.bytes_per_sample();
    let frame = width * channels;
    // A trailing partial frame (a stream cut mid-sample) is dropped, not an error: live
    // media arrives in arbitrary chunk sizes.
    let frames = bytes.len() / frame;
    check_length(frames as u64, raw.sample_rate, options.max_seconds)?;
    let offset = options.channel_index * width;
    let samples = bytes
        .chunks_exact(frame)
        .map(|f| {
            let s = &f[offset..offset + width];
            let linear = match raw.encoding {
                RawEncoding::PcmS16le => i16::from_le_bytes([s[0], s[1]]),
                RawEncoding::Mulaw => mulaw_to_linear(s[0]),
                RawEncoding::Alaw => alaw_to_linear(s[0]),
            };
            f32::from(linear) / 32_768.0
        })
        .collect();
    let codec = match raw.encoding {
        RawEncoding::PcmS16le => "pcm_s16le",
        RawEncoding::Mulaw => "pcm_mulaw",
        RawEncoding::Alaw => "pcm_alaw",
    };
    Ok(DecodedAudio {
        samples,
        sample_rate: raw.sample_rate,
        channels_in_source: channels,
        codec: codec.into(),
    })
}

fn map_symphonia(err: SymphoniaError, context: &str) -> AudioError {
    match err {
        SymphoniaError::Unsupported(what) => AudioError::Unsupported(format!("{context}: {what}")),
        SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt(format!("{context}: file ends early (truncated)"))
        }
        SymphoniaError::IoError(e) => AudioError::Corrupt(format!("{context}: {e}")),
        SymphoniaError::DecodeError(what) => AudioError::Corrupt(format!("{context}: {what}")),
        SymphoniaError::LimitError(what) => {
            AudioError::Corrupt(format!("{context}: limit exceeded: {what}"))
        }
        SymphoniaError::SeekError(_) | SymphoniaError::ResetRequired => {
            AudioError::Corrupt(format!("{context}: unexpected decoder state"))
        }
    }
}

/// Where symphonia's probe would start reading a RIFF/WAVE file: the first `RIFF` marker
/// (it scans past leading bytes for one), when `WAVE` follows it.
fn riff_start(bytes: &[u8]) -> Option<usize> {
    let start = bytes.windows(4).position(|w| w == b"RIFF")?;
    (bytes.get(start + 8..start + 12)? == b"WAVE").then_some(start)
}

/// Offsets of the RIFF/WAVE chunk headers (id + length) in `bytes`, in order; empty when
/// `bytes` is not RIFF/WAVE. Stops at the first header that does not fit.
fn wav_chunks(bytes: &[u8]) -> Vec<(usize, [u8; 4], u32)> {
    let mut chunks = Vec::new();
    let Some(start) = riff_start(bytes) else {
        return chunks;
    };
    let mut pos = start + 12;
    while let Some(header) = pos.checked_add(8).and_then(|end| bytes.get(pos..end)) {
        let id = [header[0], header[1], header[2], header[3]];
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        chunks.push((pos, id, len));
        let len = len as usize;
        match pos
            .checked_add(8)
            .and_then(|p| p.checked_add(len))
            .and_then(|p| p.checked_add(len & 1))
        {
            Some(next) => pos = next,
            None => break,
        }
    }
    chunks
}

/// The sample rate in a RIFF/WAVE `fmt ` chunk, read before symphonia sees the file:
/// symphonia panics on a zero rate, and an absurd rate deserves its own error.
fn wav_header_rate(bytes: &[u8]) -> Option<u32> {
    let (pos, _, _) = wav_chunks(bytes)
        .into_iter()
        .find(|(_, id, _)| id == b"fmt ")?;
    let rate = bytes.get(pos + 12..pos + 16)?;
    Some(u32::from_le_bytes([rate[0], rate[1], rate[2], rate[3]]))
}

/// WAVs written to a pipe (recorders, `ffmpeg ... -f wav -`, `espeak-ng --stdout`)
/// cannot seek back to fill in their sizes and leave a placeholder: 0, 0xFFFFFFFF, or
/// (espeak-ng) 0x7FFFF000. Any declared size of 2 GiB − 64 KiB or more is taken as
/// such a placeholder (a real chunk that large is hours past any accepted length):
/// the `data` chunk then runs to the end of the file. Rewrites those sizes in place; returns whether it did (the length is then
/// unknown, so no truncation check applies).
fn patch_unsized_wav(bytes: &mut [u8]) -> bool {
    let Some(&(pos, _, len)) = wav_chunks(bytes).iter().find(|(_, id, _)| id == b"data") else {
        return false;
    };
    /// Smallest declared size read as a streaming placeholder.
    const PLACEHOLDER_MIN: u32 = 0x7FFF_0000;
    if len != 0 && len < PLACEHOLDER_MIN {
        return false;
    }
    let Some(start) = riff_start(bytes) else {
        return false;
    };
    let rest = u32::try_from(bytes.len() - (pos + 8)).unwrap_or(u32::MAX);
    let riff = u32::try_from(bytes.len() - (start + 8)).unwrap_or(u32::MAX);
    bytes[pos + 4..pos + 8].copy_from_slice(&rest.to_le_bytes());
    bytes[start + 4..start + 8].copy_from_slice(&riff.to_le_bytes());
    true
}

fn decode_container(bytes: &[u8], options: &DecodeOptions) -> Result<DecodedAudio, AudioError> {
    if let Some(rate) = wav_header_rate(bytes) {
        check_rate(rate)?;
    }
    let mut owned = bytes.to_vec();
    let length_unknown = patch_unsized_wav(&mut owned);
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(owned)),
        MediaSourceStreamOptions::default(),
    );
    let probed = symphonia::default::get_probe()
        .format(&Hint::new(), source, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => AudioError::Unsupported(
                "unrecognised audio container (accepted: WAV, FLAC, MP3, or raw PCM/G.711 with a declared format)"
                    .into(),
            ),
            other => map_symphonia(other, "reading the container header"),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::Unsupported("the container holds no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let rate = params
        .sample_rate
        .ok_or_else(|| AudioError::Corrupt("no sample rate in the header".into()))?;
    check_rate(rate)?;
    let codec = symphonia::default::get_codecs()
        .get_codec(params.codec)
        .map(|d| d.short_name.to_owned())
        .ok_or_else(|| {
            AudioError::Unsupported(format!(
                "codec {} (accepted: PCM, G.711, FLAC, MP3)",
                params.codec
            ))
        })?;
    // Channel count from the header where present (WAV/FLAC); MP3 reveals it per frame.
    let header_channels = params.channels.map(|c| c.count());
    if let Some(channels) = header_channels {
        check_channel(options.channel_index, channels)?;
    }
    if let Some(frames) = params.n_frames {
        check_length(frames, rate, options.max_seconds)?;
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| map_symphonia(e, "opening the decoder"))?;

    let max_frames = (options.max_seconds * f64::from(rate)).ceil() as usize;
    let mut samples: Vec<f32> = Vec::new();
    let mut channels_in_source = header_channels.unwrap_or(0);
    let mut buffer: Option<SampleBuffer<f32>> = None;
    let mut bad_packets = 0usize;
    let mut good_packets = 0usize;
    let mut truncated: Option<String> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::ResetRequired) => break,
            // A demuxer that hits garbage mid-stream: keep what decoded cleanly if anything did.
            Err(e) if good_packets > 0 => {
                truncated = Some(format!(
                    "stream breaks off: {}",
                    map_symphonia(e, "reading audio packets")
                ));
                break;
            }
            Err(e) => return Err(map_symphonia(e, "reading audio packets")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let audio = match decoder.decode(&packet) {
            Ok(a) => a,
            // MP3 streams often carry a damaged frame; skip it like every player does.
            Err(SymphoniaError::DecodeError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(SymphoniaError::IoError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => return Err(map_symphonia(e, "decoding audio")),
        };
        let spec = *audio.spec();
        if spec.rate != rate {
            return Err(AudioError::Corrupt(format!(
                "sample rate changes mid-stream ({rate} → {} Hz)",
                spec.rate
            )));
        }
        let channels = spec.channels.count();
        if channels_in_source == 0 {
            channels_in_source = channels;
            check_channel(options.channel_index, channels)?;
        } else if channels != channels_in_source {
            return Err(AudioError::Corrupt(
                "channel count changes mid-stream".into(),
            ));
        }
        let frames = audio.frames();
        if frames == 0 {
            continue;
        }
        let needed = frames as u64 * channels as u64;
        let buf = match &mut buffer {
            Some(b) if b.capacity() as u64 >= needed => b,
            _ => buffer.insert(SampleBuffer::new(audio.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(audio);
        samples.extend(
            buf.samples()
                .iter()
                .skip(options.channel_index)
                .step_by(channels)
                .take(frames),
        );
        good_packets += 1;
        if samples.len() > max_frames {
            return Err(AudioError::TooLong {
                seconds: samples.len() as f64 / f64::from(rate),
                max_seconds: options.max_seconds,
            });
        }
    }
    if good_packets == 0 {
        return Err(if bad_packets > 0 {
            AudioError::Corrupt(format!(
                "none of the {bad_packets} audio packets could be decoded"
            ))
        } else {
            AudioError::Empty
        });
    }
    // A header that promises more frames than the file holds means the file was cut short.
    // (MP3 frame counts from a Xing/LAME header include encoder padding: allow a frame or two.)
    if let Some(promised) = params.n_frames.filter(|_| !length_unknown) {
        let slack = 2 * 1152
            + u64::from(params.delay.unwrap_or(0))
            + u64::from(params.padding.unwrap_or(0));
        if (samples.len() as u64) + slack < promised {
            truncated = Some(format!(
                "truncated: decoded {:.2} s but the header promises {:.2} s",
                samples.len() as f64 / f64::from(rate),
                promised as f64 / f64::from(rate),
            ));
        }
    }
    if let Some(reason) = truncated {
        return Err(AudioError::Corrupt(reason));
    }
    for s in &mut samples {
        // Float WAVs can carry NaN/inf or out-of-range values; keep the model's input sane.
        *s = if s.is_finite() {
            s.clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
    Ok(DecodedAudio {
        samples,
        sample_rate: rate,
        channels_in_source,
        codec,
    })
}
