//! Asterisk AudioSocket: a TCP stream of frames, each a 1-byte kind, a 2-byte
//! big-endian payload length and the payload. Asterisk sends the call's UUID
//! first (16 bytes, binary), then audio (16-bit signed little-endian linear PCM,
//! 8 kHz mono, usually 20 ms = 320 bytes per frame), and a hangup (or closes).
//!
//! [`FrameDecoder`] takes bytes as they arrive (frames split across reads or
//! several in one read) and yields [`Frame`]s; [`parse`] reads one frame from the
//! front of a buffer; [`Frame::encode`] writes one.

use crate::{Error, Result};

pub const KIND_HANGUP: u8 = 0x00;
pub const KIND_UUID: u8 = 0x01;
pub const KIND_DTMF: u8 = 0x03;
pub const KIND_AUDIO: u8 = 0x10;
pub const KIND_ERROR: u8 = 0xff;
/// Header bytes before each payload.
pub const HEADER_BYTES: usize = 3;
/// The default payload limit: a second of 8 kHz 16-bit audio is 16 000 bytes;
/// anything near the 65 535 the length field allows is not a sane frame.
pub const DEFAULT_MAX_PAYLOAD: usize = 16_000;

/// One AudioSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The call ended (kind 0x00).
    Hangup,
    /// The call's UUID (kind 0x01), 16 bytes in network order.
    Uuid([u8; 16]),
    /// A DTMF digit (kind 0x03), one ASCII byte.
    Dtmf(u8),
    /// Audio (kind 0x10): 16-bit signed little-endian PCM, 8 kHz mono.
    Audio(Vec<u8>),
    /// An error from Asterisk (kind 0xff); the payload holds its code, if any.
    Error(Option<u8>),
    /// A kind this decoder does not interpret (e.g. audio at higher sample rates).
    Other { kind: u8, payload: Vec<u8> },
}

impl Frame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, &[u8]) = match self {
            Frame::Hangup => (KIND_HANGUP, &[]),
            Frame::Uuid(u) => (KIND_UUID, u),
            Frame::Dtmf(d) => (KIND_DTMF, std::slice::from_ref(d)),
            Frame::Audio(a) => (KIND_AUDIO, a),
            Frame::Error(None) => (KIND_ERROR, &[]),
            Frame::Error(Some(c)) => (KIND_ERROR, std::slice::from_ref(c)),
            Frame::Other { kind, payload } => (*kind, payload),
        };
        let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
        out.push(kind);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&payload[..usize::from(len)]);
        out
    }
}

/// The canonical text form of a UUID (lower-case, hyphenated: 36 characters).
pub fn uuid_string(uuid: &[u8; 16]) -> String {
    let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Parses one frame from the front of `bytes`; returns it and the bytes it used.
/// [`Error::Truncated`] when `bytes` holds less than a whole frame.
pub fn parse(bytes: &[u8]) -> Result<(Frame, usize)> {
    parse_with_limit(bytes, DEFAULT_MAX_PAYLOAD)
}

/// [`parse`] with a payload limit.
pub fn parse_with_limit(bytes: &[u8], max_payload: usize) -> Result<(Frame, usize)> {
    if bytes.len() < HEADER_BYTES {
        return Err(Error::Truncated {
            what: "AudioSocket header",
            need: HEADER_BYTES,
            have: bytes.len(),
        });
    }
    let kind = bytes[0];
    let len = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
    if len > max_payload {
        return Err(Error::TooLarge {
            what: "AudioSocket payload",
            len,
            max: max_payload,
        });
    }
    let total = HEADER_BYTES + len;
    if bytes.len() < total {
        return Err(Error::Truncated {
            what: "AudioSocket frame",
            need: total,
            have: bytes.len(),
        });
    }
    let payload = &bytes[HEADER_BYTES..total];
    let frame = match kind {
        KIND_HANGUP => Frame::Hangup,
        KIND_UUID => Frame::Uuid(payload.try_into().map_err(|_| {
            Error::malformed(
                "AudioSocket UUID frame",
                format!("payload is {len} bytes, not 16"),
            )
        })?),
        KIND_DTMF => match payload {
            [d] => Frame::Dtmf(*d),
            _ => {
                return Err(Error::malformed(
                    "AudioSocket DTMF frame",
                    format!("payload is {len} bytes, not 1"),
                ))
            }
        },
        KIND_AUDIO => {
            if !len.is_multiple_of(2) {
                return Err(Error::malformed(
                    "AudioSocket audio frame",
                    format!("{len} bytes is not whole 16-bit samples"),
                ));
            }
            Frame::Audio(payload.to_vec())
        }
        KIND_ERROR => Frame::Error(payload.first().copied()),
        other => Frame::Other {
            kind: other,
            payload: payload.to_vec(),
        },
    };
    Ok((frame, total))
}

/// Incremental decoder over a byte stream.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_payload: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_PAYLOAD)
    }
}

impl FrameDecoder {
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max_payload,
        }
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed. An error
    /// is final: the stream cannot be resynchronised.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        match parse_with_limit(&self.buf, self.max_payload) {
            Ok((frame, used)) => {
                self.buf.drain(..used);
                Ok(Some(frame))
            }
            Err(Error::Truncated { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Bytes received but not yet a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ];

    #[test]
    fn frames_round_trip_and_uuid_prints_canonically() {
        for frame in [
            Frame::Hangup,
            Frame::Uuid(UUID),
            Frame::Dtmf(b'5'),
            Frame::Audio(vec![1, 2, 3, 4]),
            Frame::Error(Some(2)),
            Frame::Other {
                kind: 0x12,
                payload: vec![9; 8],
            },
        ] {
            let bytes = frame.encode();
            assert_eq!(parse(&bytes).unwrap(), (frame, bytes.len()));
        }
        assert_eq!(Frame::Hangup.encode(), vec![0, 0, 0]);
        assert_eq!(
            &Frame::Audio(vec![0; 320]).encode()[..3],
            &[0x10, 0x01, 0x40]
        );
        assert_eq!(uuid_string(&UUID), "12345678-9abc-def0-0123-456789abcdef");
    }

    #[test]
    fn decoder_reassembles_frames_split_anywhere() {
        let mut wire = Frame::Uuid(UUID).encode();
        for i in 0..5u8 {
            wire.extend(Frame::Audio(vec![i; 320]).encode());
        }
        wire.extend(Frame::Hangup.encode());
        // Feed in every chunk size from 1 byte up: the frames come out the same.
        for chunk in [1, 2, 3, 7, 100, 323, wire.len()] {
            let mut d = FrameDecoder::default();
            let mut frames = Vec::new();
            for piece in wire.chunks(chunk) {
                d.push(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    frames.push(f);
                }
            }
            assert_eq!(frames.len(), 7, "chunk {chunk}");
            assert_eq!(frames[0], Frame::Uuid(UUID));
            assert_eq!(frames[3], Frame::Audio(vec![2; 320]));
            assert_eq!(frames[6], Frame::Hangup);
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn malformed_truncated_and_oversized_frames_are_typed_errors() {
        assert!(matches!(parse(&[]), Err(Error::Truncated { need: 3, .. })));
        assert!(matches!(
            parse(&[0x10, 0x00, 0x04, 1]),
            Err(Error::Truncated {
                need: 7,
                have: 4,
                ..
            })
        ));
        assert!(matches!(
            parse(&[0x01, 0x00, 0x02, 1, 2]),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            parse(&[0x10, 0x00, 0x03, 1, 2, 3]),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            parse(&[0x03, 0x00, 0x00]),
            Err(Error::Malformed { .. })
        ));
        let big = [0x10, 0xff, 0xfe];
        assert!(matches!(
            parse(&big),
            Err(Error::TooLarge { len: 65534, .. })
        ));
        let mut d = FrameDecoder::new(320);
        d.push(&Frame::Audio(vec![0; 322]).encode());
        assert!(matches!(d.next_frame(), Err(Error::TooLarge { .. })));
        // Every prefix of a valid stream and arbitrary garbage: never a panic.
        let mut wire = Frame::Uuid(UUID).encode();
        wire.extend(Frame::Audio(vec![7; 10]).encode());
        for n in 0..wire.len() {
            let _ = parse(&wire[..n]);
        }
        let mut x: u32 = 1;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let bytes = x.to_le_bytes();
            let _ = parse(&bytes[..(x as usize % 5)]);
        }
    }
}
