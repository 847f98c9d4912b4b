//! Live-call front end: headerless media bytes in (as a telephony stream delivers them,
//! any chunk sizes), 16 kHz DC-free samples and net speech so far out.
//!
//! Differences from the whole-file path, and why: the DC offset is removed by a
//! first-order blocker (cut-off below 1 Hz) instead of the file mean, because the mean
//! of a call is not known until it ends; resampling runs chunk by chunk through the same
//! rubato FFT resampler, so 16 kHz output lags the input by about one resampler chunk
//! (tens of milliseconds) until [`StreamingFrontEnd::finish`] flushes it.

use std::ops::Range;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::decode::{decode_bytes, DecodeOptions, RawFormat};
use crate::vad::StreamingVad;
use crate::{AudioError, MODEL_SAMPLE_RATE};

/// Resampler chunk (source frames): small, so output keeps up with a live call.
const STREAM_CHUNK_FRAMES: usize = 256;

/// Streaming decode → DC removal → 16 kHz → voice-activity detection.
pub struct StreamingFrontEnd {
    format: RawFormat,
    channel_index: usize,
    max_seconds: f64,
    /// Bytes of an incomplete frame left over from the last push.
    partial_bytes: Vec<u8>,
    dc: DcBlocker,
    resampler: Option<Fft<f32>>,
    /// Source-rate samples waiting for a full resampler chunk.
    pending: Vec<f32>,
    /// Resampler start-up delay still to drop from the output (16 kHz frames).
    delay_left: usize,
    source_frames: usize,
    samples_16k: Vec<f32>,
    vad: StreamingVad,
    finished: bool,
    /// Decoded samples in flat tops at full scale (clipping), counted per push.
    clipped_samples: usize,
}

/// y[n] = x[n] - x[n-1] + R·y[n-1] with R chosen for a ~0.5 Hz cut-off at the source rate.
struct DcBlocker {
    r: f32,
    previous_in: f32,
    previous_out: f32,
}

impl DcBlocker {
    fn new(rate: u32) -> Self {
        let r = 1.0 - 2.0 * std::f32::consts::PI * 0.5 / rate as f32;
        DcBlocker {
            r,
            previous_in: 0.0,
            previous_out: 0.0,
        }
    }

    fn process(&mut self, x: f32) -> f32 {
        let y = x - self.previous_in + self.r * self.previous_out;
        self.previous_in = x;
        self.previous_out = y;
        y
    }
}

impl StreamingFrontEnd {
    /// A front end for a stream in `format`, keeping `channel_index`, refusing more than
    /// `max_seconds` (see [`DecodeOptions`] for the meaning of each).
    pub fn new(
        format: RawFormat,
        channel_index: usize,
        max_seconds: f64,
    ) -> Result<Self, AudioError> {
        // Validate everything `decode_bytes` would, on one frame of silence.
        let probe = vec![0u8; frame_bytes(&format).max(1)];
        let options = DecodeOptions {
            channel_index,
            max_seconds,
            raw: Some(format),
        };
        match decode_bytes(&probe, &options) {
            Ok(_) | Err(AudioError::Empty) | Err(AudioError::TooLong { .. }) => {}
            Err(e) => return Err(e),
        }
        let resampler = if format.sample_rate == MODEL_SAMPLE_RATE {
            None
        } else {
            let r = Fft::<f32>::new(
                format.sample_rate as usize,
                MODEL_SAMPLE_RATE as usize,
                STREAM_CHUNK_FRAMES,
                1,
                FixedSync::Input,
            )
            .map_err(|e| AudioError::Resample(e.to_string()))?;
            Some(r)
        };
        let delay_left = resampler.as_ref().map_or(0, |r| r.output_delay());
        Ok(StreamingFrontEnd {
            format,
            channel_index,
            max_seconds,
            partial_bytes: Vec::new(),
            dc: DcBlocker::new(format.sample_rate),
            resampler,
            pending: Vec::new(),
            delay_left,
            source_frames: 0,
            samples_16k: Vec::new(),
            vad: StreamingVad::new(),
            finished: false,
            clipped_samples: 0,
        })
    }

    /// Feeds the next bytes of the stream (any length, frames may straddle pushes).
    ///
    /// [`AudioError::TooLong`] once the stream passes `max_seconds`; the samples so far
    /// stay readable.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), AudioError> {
        if self.finished {
            return Err(AudioError::InvalidOption("push after finish".into()));
        }
        let frame = frame_bytes(&self.format);
        self.partial_bytes.extend_from_slice(bytes);
        let whole = self.partial_bytes.len() / frame * frame;
        if whole == 0 {
            return Ok(());
        }
        let frames = whole / frame;
        let seconds = (self.source_frames + frames) as f64 / f64::from(self.format.sample_rate);
        if seconds > self.max_seconds {
            // Drop the refused bytes so a caller that keeps pushing cannot grow the buffer.
            self.partial_bytes
                .truncate(self.partial_bytes.len() - bytes.len());
            return Err(AudioError::TooLong {
                seconds,
                max_seconds: self.max_seconds,
            });
        }
        let options = DecodeOptions {
            channel_index: self.channel_index,
            max_seconds: f64::MAX,
            raw: Some(self.format),
        };
        let decoded = decode_bytes(&self.partial_bytes[..whole], &options)?;
        self.partial_bytes.drain(..whole);
        self.source_frames += frames;
        self.clipped_samples += crate::quality::count_clipped_samples(&decoded.samples);
        let dc = &mut self.dc;
        self.pending
            .extend(decoded.samples.iter().map(|&x| dc.process(x)));
        self.resample_pending(false)
    }

    /// Flushes the resampler: after this, [`samples_16k`](Self::samples_16k) covers the
    /// whole stream. Further pushes are refused.
    pub fn finish(&mut self) -> Result<(), AudioError> {
        if !self.finished {
            self.finished = true;
            self.resample_pending(true)?;
        }
        Ok(())
    }

    fn resample_pending(&mut self, flush: bool) -> Result<(), AudioError> {
        let Some(resampler) = self.resampler.as_mut() else {
            let start = self.samples_16k.len();
            self.samples_16k.append(&mut self.pending);
            self.vad.push(&self.samples_16k[start..]);
            return Ok(());
        };
        let start = self.samples_16k.len();
        let err = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
        loop {
            let need = resampler.input_frames_next();
            let expected_total = (self.source_frames as f64 * f64::from(MODEL_SAMPLE_RATE)
                / f64::from(self.format.sample_rate))
            .round() as usize;
            let (chunk, partial) = if self.pending.len() >= need {
                (self.pending.drain(..need).collect::<Vec<f32>>(), None)
            } else if flush && self.samples_16k.len() < expected_total {
                let n = self.pending.len();
                let mut chunk = std::mem::take(&mut self.pending);
                chunk.resize(need, 0.0);
                (chunk, Some(n))
            } else {
                break;
            };
            let input = InterleavedSlice::new(&chunk, 1, need).map_err(|e| err(&e))?;
            let indexing = Indexing {
                partial_len: partial,
                ..Indexing::default()
            };
            let out = resampler
                .process(&input, Some(&indexing))
                .map_err(|e| err(&e))?
                .take_data();
            let skip = self.delay_left.min(out.len());
            self.delay_left -= skip;
            self.samples_16k.extend_from_slice(&out[skip..]);
            if flush && self.pending.is_empty() && self.samples_16k.len() >= expected_total {
                self.samples_16k.truncate(expected_total);
                break;
            }
        }
        let end = self.samples_16k.len();
        if end > start {
            self.vad.push(&self.samples_16k[start..end]);
        }
        Ok(())
    }

    /// DC-free 16 kHz samples produced so far.
    pub fn samples_16k(&self) -> &[f32] {
        &self.samples_16k
    }

    /// Seconds of stream received so far.
    pub fn received_seconds(&self) -> f64 {
        self.source_frames as f64 / f64::from(self.format.sample_rate)
    }

    /// Speech segments so far (sample ranges of [`samples_16k`](Self::samples_16k)).
    pub fn speech(&self) -> Vec<Range<usize>> {
        self.vad.segments()
    }

    /// Net speech so far, in seconds.
    pub fn net_speech_seconds(&self) -> f64 {
        self.vad.net_speech_seconds()
    }

    /// Net speech, SNR and clipping of the stream so far ([`crate::quality`]).
    /// Clipping runs that straddle two pushes are counted in parts.
    pub fn quality(&self) -> crate::AudioQuality {
        crate::measure_quality(
            &self.samples_16k,
            &self.speech(),
            self.clipped_samples,
            self.format.sample_rate,
        )
    }
}

fn frame_bytes(format: &RawFormat) -> usize {
    let width = match format.encoding {
        crate::RawEncoding::PcmS16le => 2,
        crate::RawEncoding::Mulaw | crate::RawEncoding::Alaw => 1,
    };
    width * usize::from(format.channels)
}
