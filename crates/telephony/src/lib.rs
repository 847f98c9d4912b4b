//! Sans-IO parsers for the telephony protocols voiceprint takes call audio from:
//! Asterisk AudioSocket ([`audiosocket`]), Genesys Cloud AudioHook v2
//! ([`audiohook`]), SIPREC signalling ([`sip`]: SIP messages, SDP, RFC 7865
//! rs-metadata, the recording-server dialog) and RTP media ([`rtp`]).
//!
//! What it does: bytes in → typed events and audio out, and the bytes of replies.
//! What it does not: sockets, timers, tasks — the server's socket loops own those,
//! so every parser here is unit-tested and fuzzable without I/O. Each protocol has
//! a `parse(&[u8])`-style entry point that never panics: malformed, truncated or
//! oversized input is an [`Error`].

pub mod audiohook;
pub mod audiosocket;
pub mod rtp;
pub mod sip;

/// Why input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended before a complete unit (frame, header, message).
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    /// A unit larger than the configured or protocol limit.
    #[error("{what} too large: {len} bytes (limit {max})")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// Input that does not follow the protocol's syntax.
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// Valid input asking for something voiceprint does not do.
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: &'static str, detail: String },
    /// A well-formed message at the wrong time (sequence, state).
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl Error {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        Error::Malformed {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn unsupported(what: &'static str, detail: impl Into<String>) -> Self {
        Error::Unsupported {
            what,
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
