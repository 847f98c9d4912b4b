//! [`LiveAudio`]: one call's streamed bytes in, speech segments to embed out.
//!
//! Bytes go through the streaming front end (decode → DC blocker → 16 kHz → VAD).
//! The VAD's speech, read as one sequence, only ever grows at its end (a segment's
//! start is fixed once it appears and its end only moves forward), so "new speech"
//! is simply the speech after the last sample already handed out. It is cut into
//! segments of `segment_seconds`; a segment is also cut early when the speech
//! crosses a milestone (the session's response time, the 30 s enrollment needs) so a
//! decision never waits for a full segment, and at the end of the stream.
//!
//! A segment shorter than [`MIN_EMBED_SECONDS`] is embedded together with the speech
//! just before it (the embedding sees at least that much audio) but is weighted by
//! its new speech only, so no speech is counted twice.

use voiceprint_audio::{RawFormat, StreamingFrontEnd, MODEL_SAMPLE_RATE};

use crate::error::{Error, Result};

/// Shortest audio given to the speaker model for one segment.
pub const MIN_EMBED_SECONDS: f64 = 1.0;

/// Speech ready to embed: `samples_16k` (speech only) counts for `new_speech_seconds`.
#[derive(Clone)]
pub struct SpeechSegment {
    pub samples_16k: Vec<f32>,
    pub new_speech_seconds: f64,
    /// Signal quality of the whole stream up to this segment (issue 9: SNR and
    /// clipping of enrollment speech).
    pub stream_quality: voiceprint_audio::AudioQuality,
    /// A voice chunk completed by this segment: the next [`VOICE_CHUNK_SECONDS`] of
    /// speech, for the enrollment's multiple-voices check (embedded on its own).
    pub voice_chunk: Option<Vec<f32>>,
}

/// Speech per voice chunk (the multiple-voices check; crate::quality).
pub const VOICE_CHUNK_SECONDS: f64 = crate::quality::TARGET_CHUNK_SECONDS;
/// Voice chunks are cut from this much speech at most: the speech an enrollment
/// needs (30 s), so the check costs at most 30 s of extra embedding per call.
pub const VOICE_CHUNK_SPEECH_SECONDS: f64 = 30.0;

impl std::fmt::Debug for SpeechSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechSegment")
            .field("samples", &self.samples_16k.len())
            .field("new_speech_seconds", &self.new_speech_seconds)
            .finish()
    }
}

/// Streaming front end plus the segmenting of its speech.
pub struct LiveAudio {
    front: StreamingFrontEnd,
    segment_samples: usize,
    /// Speech samples already handed out (index into the speech sequence).
    taken: usize,
    /// Speech seconds at which a segment is cut early, ascending.
    milestones: Vec<f64>,
    /// Speech beyond this many seconds is not embedded (results have converged; CPU).
    max_embedded_samples: usize,
    /// Speech samples already cut into voice chunks.
    chunked: usize,
}

fn seconds_to_samples(s: f64) -> usize {
    (s * f64::from(MODEL_SAMPLE_RATE)).round() as usize
}

fn samples_to_seconds(n: usize) -> f64 {
    n as f64 / f64::from(MODEL_SAMPLE_RATE)
}

impl LiveAudio {
    /// `max_audio_seconds` bounds the stream (then pushes fail); `segment_seconds` is
    /// the embedding segment length; `max_embedded_seconds` caps embedded speech.
    pub fn new(
        format: RawFormat,
        channel_index: usize,
        max_audio_seconds: f64,
        segment_seconds: f64,
        max_embedded_seconds: f64,
    ) -> Result<Self> {
        let front = StreamingFrontEnd::new(format, channel_index, max_audio_seconds)
            .map_err(|e| Error::Validation(format!("audio format: {e}")))?;
        Ok(LiveAudio {
            front,
            segment_samples: seconds_to_samples(segment_seconds.max(MIN_EMBED_SECONDS)),
            taken: 0,
            milestones: Vec::new(),
            max_embedded_samples: seconds_to_samples(max_embedded_seconds),
            chunked: 0,
        })
    }

    /// Speech totals at which to cut a segment early (e.g. the response time and 30 s).
    pub fn set_milestones(&mut self, mut seconds: Vec<f64>) {
        seconds.sort_by(f64::total_cmp);
        self.milestones = seconds;
    }

    /// Feeds stream bytes; returns the segments that became ready.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SpeechSegment>> {
        self.front.push_bytes(bytes).map_err(|e| match e {
            voiceprint_audio::AudioError::TooLong { max_seconds, .. } => Error::Validation(
                format!("the session reached its maximum of {max_seconds:.0} s of audio"),
            ),
            other => Error::Validation(format!("audio: {other}")),
        })?;
        Ok(self.cut(false))
    }

    /// Ends the stream: flushes the resampler and returns the last segments.
    pub fn finish(&mut self) -> Result<Vec<SpeechSegment>> {
        self.front
            .finish()
            .map_err(|e| Error::Validation(format!("audio: {e}")))?;
        Ok(self.cut(true))
    }

    /// Seconds of audio received.
    pub fn received_seconds(&self) -> f64 {
        self.front.received_seconds()
    }

    /// Net speech heard so far (embedded or not).
    pub fn heard_speech_seconds(&self) -> f64 {
        self.front.net_speech_seconds()
    }

    /// Net speech handed out for embedding so far.
    pub fn segmented_speech_seconds(&self) -> f64 {
        samples_to_seconds(self.taken)
    }

    fn cut(&mut self, at_end: bool) -> Vec<SpeechSegment> {
        let ranges = self.front.speech();
        let total: usize = ranges.iter().map(|r| r.len()).sum::<usize>();
        let total = total.min(self.max_embedded_samples);
        let mut out = Vec::new();
        while self.taken < total {
            let available = total - self.taken;
            let next_milestone = self
                .milestones
                .iter()
                .map(|&m| seconds_to_samples(m))
                .find(|&m| m > self.taken);
            let end = if available >= self.segment_samples {
                // A milestone inside this segment cuts it there.
                match next_milestone {
                    Some(m) if m < self.taken + self.segment_samples => m,
                    _ => self.taken + self.segment_samples,
                }
            } else if next_milestone.is_some_and(|m| m <= total) {
                next_milestone.unwrap_or(total)
            } else if at_end || total == self.max_embedded_samples {
                total
            } else {
                break;
            };
            out.push(self.segment(&ranges, end));
        }
        out
    }

    /// Hands out speech `taken..end`, padded in front to [`MIN_EMBED_SECONDS`].
    fn segment(&mut self, ranges: &[std::ops::Range<usize>], end: usize) -> SpeechSegment {
        let start = end
            .saturating_sub(seconds_to_samples(MIN_EMBED_SECONDS))
            .min(self.taken);
        let speech = self.speech_between(ranges, start, end);
        let new = end - self.taken;
        self.taken = end;
        let chunk = seconds_to_samples(VOICE_CHUNK_SECONDS);
        let voice_chunk = (self.chunked + chunk <= end
            && self.chunked + chunk <= seconds_to_samples(VOICE_CHUNK_SPEECH_SECONDS))
        .then(|| {
            let c = self.speech_between(ranges, self.chunked, self.chunked + chunk);
            self.chunked += chunk;
            c
        });
        SpeechSegment {
            samples_16k: speech,
            new_speech_seconds: samples_to_seconds(new),
            stream_quality: self.front.quality(),
            voice_chunk,
        }
    }

    /// Speech samples `start..end` of the speech sequence (speech ranges concatenated).
    fn speech_between(
        &self,
        ranges: &[std::ops::Range<usize>],
        start: usize,
        end: usize,
    ) -> Vec<f32> {
        let samples = self.front.samples_16k();
        let mut speech = Vec::with_capacity(end - start);
        let mut index = 0usize;
        for r in ranges {
            let len = r.len();
            if index + len > start && index < end {
                let from = r.start + start.saturating_sub(index);
                let to = r.start + (end - index).min(len);
                speech.extend_from_slice(&samples[from..to.min(samples.len())]);
            }
            index += len;
            if index >= end {
                break;
            }
        }
        speech
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voiceprint_audio::RawEncoding;

    /// A 16 kHz PCM stream: `pattern` of (seconds, is_tone) pieces.
    fn stream(pattern: &[(f64, bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = 0usize;
        for &(seconds, tone) in pattern {
            for _ in 0..seconds_to_samples(seconds) {
                let t = n as f64 / 16_000.0;
                // A vowel-like tone with a 4 Hz syllable envelope reads as speech.
                let env = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin().abs();
                let x = if tone {
                    0.3 * env
                        * ((2.0 * std::f64::consts::PI * 220.0 * t).sin()
                            + 0.5 * (2.0 * std::f64::consts::PI * 440.0 * t).sin())
                } else {
                    0.0005 * ((n * 7919 % 1000) as f64 / 500.0 - 1.0)
                };
                out.extend_from_slice(&((x * 32767.0) as i16).to_le_bytes());
                n += 1;
            }
        }
        out
    }

    fn live(segment: f64) -> LiveAudio {
        let format = RawFormat {
            encoding: RawEncoding::PcmS16le,
            sample_rate: 16_000,
            channels: 1,
        };
        LiveAudio::new(format, 0, 600.0, segment, 60.0).unwrap()
    }

    fn feed(live: &mut LiveAudio, bytes: &[u8], chunk: usize) -> Vec<SpeechSegment> {
        let mut out = Vec::new();
        for c in bytes.chunks(chunk) {
            out.extend(live.push(c).unwrap());
        }
        out.extend(live.finish().unwrap());
        out
    }

    #[test]
    fn segments_cover_the_heard_speech_exactly_once_whatever_the_chunking() {
        let bytes = stream(&[
            (1.0, false),
            (4.0, true),
            (1.0, false),
            (5.0, true),
            (1.0, false),
        ]);
        let mut a = live(3.0);
        let segs_a = feed(&mut a, &bytes, 640);
        let mut b = live(3.0);
        let segs_b = feed(&mut b, &bytes, 7_777);
        let total: f64 = segs_a.iter().map(|s| s.new_speech_seconds).sum();
        assert!(
            (total - a.heard_speech_seconds()).abs() < 1e-9,
            "{total} vs {}",
            a.heard_speech_seconds()
        );
        assert!(total > 3.0, "speech {total}");
        let weights =
            |v: &[SpeechSegment]| v.iter().map(|s| s.new_speech_seconds).collect::<Vec<_>>();
        assert_eq!(weights(&segs_a), weights(&segs_b));
        // Full segments are exactly 3 s; every embedded piece is at least 1 s of audio.
        assert!(segs_a[..segs_a.len() - 1]
            .iter()
            .all(|s| (s.new_speech_seconds - 3.0).abs() < 1e-9));
        assert!(segs_a.iter().all(|s| s.samples_16k.len() >= 16_000));
        // Voice chunks: consecutive 5 s pieces of the speech, the same whatever the
        // chunking of the bytes.
        let chunks = |v: &[SpeechSegment]| {
            v.iter()
                .filter_map(|s| s.voice_chunk.as_ref().map(Vec::len))
                .collect::<Vec<_>>()
        };
        assert_eq!(chunks(&segs_a), chunks(&segs_b));
        assert_eq!(chunks(&segs_a), vec![80_000; (total / 5.0) as usize]);
    }

    #[test]
    fn a_milestone_cuts_a_segment_as_soon_as_the_speech_reaches_it() {
        let bytes = stream(&[(0.5, false), (8.0, true), (0.5, false)]);
        let mut l = live(3.0);
        l.set_milestones(vec![1.5]);
        let mut cumulative = Vec::new();
        let mut sum = 0.0;
        for c in bytes.chunks(320) {
            for s in l.push(c).unwrap() {
                sum += s.new_speech_seconds;
                cumulative.push(sum);
            }
        }
        // The milestone cuts the first segment short; the next is a full one.
        assert!((cumulative[0] - 1.5).abs() < 1e-9, "{cumulative:?}");
        if cumulative.len() > 1 {
            assert!((cumulative[1] - 4.5).abs() < 1e-9, "{cumulative:?}");
        }
    }

    #[test]
    fn embedded_speech_stops_at_the_cap() {
        let bytes = stream(&[(0.2, false), (12.0, true)]);
        let format = RawFormat {
            encoding: RawEncoding::PcmS16le,
            sample_rate: 16_000,
            channels: 1,
        };
        let mut l = LiveAudio::new(format, 0, 600.0, 1.0, 2.0).unwrap();
        let segs = feed(&mut l, &bytes, 3200);
        let total: f64 = segs.iter().map(|s| s.new_speech_seconds).sum();
        assert!((total - 2.0).abs() < 1e-9, "{total}");
        assert!(
            l.heard_speech_seconds() > 2.5,
            "{}",
            l.heard_speech_seconds()
        );
    }

    #[test]
    fn audio_past_the_maximum_is_a_validation_error() {
        let format = RawFormat {
            encoding: RawEncoding::Mulaw,
            sample_rate: 8_000,
            channels: 1,
        };
        let mut l = LiveAudio::new(format, 0, 1.0, 3.0, 60.0).unwrap();
        l.push(&[0xFFu8; 8_000]).unwrap();
        let err = l.push(&[0xFFu8; 100]).unwrap_err();
        assert!(matches!(err, Error::Validation(m) if m.contains("maximum")));
    }

    #[test]
    fn a_bad_format_is_refused_up_front() {
        let format = RawFormat {
            encoding: RawEncoding::PcmS16le,
            sample_rate: 1,
            channels: 1,
        };
        assert!(matches!(
            LiveAudio::new(format, 0, 60.0, 3.0, 60.0),
            Err(Error::Validation(_))
        ));
    }
}
