//! Opaque, authenticated NextToken cursors.
//!
//! A token is `base64url(json cursor) "." base64url(HMAC-SHA256 tag)`. The cursor
//! names the operation, domain and filter it belongs to, so a token from another
//! listing (or a tampered one) is refused with ValidationException instead of
//! silently listing something else. Tokens expire after 24 h, as Voice ID's do.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// How long a NextToken stays valid (Voice ID: 24 h).
pub const TOKEN_TTL_SECONDS: f64 = 24.0 * 3600.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    /// Operation name the token belongs to.
    pub op: String,
    pub domain: String,
    /// Filter the listing was made with (WatchlistId, JobStatus), if any.
    pub filter: Option<String>,
    /// Last id returned; the next page starts strictly after it.
    pub after: String,
    /// Issue time, epoch seconds.
    pub iat: f64,
}

/// Signs and checks cursors with a server secret.
#[derive(Clone)]
pub struct TokenCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec { key: <redacted> }")
    }
}

impl TokenCodec {
    pub fn new(key: &[u8]) -> Self {
        TokenCodec { key: key.to_vec() }
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(data);
        mac
    }

    /// A keyed digest of `data` (used to compare idempotent requests without storing them).
    pub fn digest(&self, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(data).finalize().into_bytes())
    }

    pub(crate) fn encode(&self, cursor: &Cursor) -> String {
        let payload = serde_json::to_vec(cursor).expect("cursor serialises");
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Decode `token` and check it belongs to this (op, domain, filter) listing.
    pub(crate) fn decode(
        &self,
        token: &str,
        op: &str,
        domain: &str,
        filter: Option<&str>,
        now: f64,
    ) -> Result<Cursor> {
        let invalid =
            || Error::validation("NextToken is invalid or was issued for a different request");
        let (payload_b64, tag_b64) = token.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| invalid())?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        if cursor.op != op || cursor.domain != domain || cursor.filter.as_deref() != filter {
            return Err(invalid());
        }
        if now - cursor.iat > TOKEN_TTL_SECONDS {
            return Err(Error::validation(
                "NextToken has expired; start the listing again",
            ));
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            op: "ListSpeakers".into(),
            domain: "d".into(),
            filter: None,
            after: "id#x".into(),
            iat: 100.0,
        }
    }

    #[test]
    fn round_trips_and_rejects_tampering_and_foreign_tokens() {
        let codec = TokenCodec::new(b"secret");
        let t = codec.encode(&cursor());
        assert_eq!(
            codec.decode(&t, "ListSpeakers", "d", None, 200.0).unwrap(),
            cursor()
        );
        // Another listing, another domain, another filter.
        assert!(codec
            .decode(&t, "ListFraudsters", "d", None, 200.0)
            .is_err());
        assert!(codec.decode(&t, "ListSpeakers", "e", None, 200.0).is_err());
        assert!(codec
            .decode(&t, "ListSpeakers", "d", Some("w"), 200.0)
            .is_err());
        // Another server's key.
        assert!(TokenCodec::new(b"other")
            .decode(&t, "ListSpeakers", "d", None, 200.0)
            .is_err());
        // A flipped payload byte.
        let (p, tag) = t.split_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(p).unwrap();
        let i = raw.iter().position(|b| *b == b'x').unwrap();
        raw[i] = b'y';
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode(raw), tag);
        assert!(codec
            .decode(&forged, "ListSpeakers", "d", None, 200.0)
            .is_err());
        assert!(codec
            .decode("garbage", "ListSpeakers", "d", None, 200.0)
            .is_err());
        // Expired.
        assert!(codec
            .decode(
                &t,
                "ListSpeakers",
                "d",
                None,
                100.0 + TOKEN_TTL_SECONDS + 1.0
            )
            .is_err());
    }
}
