//! Identifier formats: 22-alphanumeric ids and `id#`-prefixed generated ids.

use rand::{distributions::Alphanumeric, Rng};

/// A fresh `^[a-zA-Z0-9]{22}$` id (DomainId, WatchlistId, JobId), from the OS RNG.
pub fn new_id22() -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect()
}

/// A fresh `^id#[a-zA-Z0-9]{22}$` id (GeneratedSpeakerId, GeneratedFraudsterId).
pub fn new_generated_id() -> String {
    format!("id#{}", new_id22())
}

/// Whether `s` has the generated form `id#` + 22 alphanumerics.
pub fn is_generated_id(s: &str) -> bool {
    s.len() == 25 && s.starts_with("id#") && s[3..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` is a valid 22-alphanumeric id.
pub fn is_id22(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` matches `CustomerSpeakerId`: 1–256 of `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`.
pub fn is_customer_speaker_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_model_format() {
        let id = new_generated_id();
        assert!(is_generated_id(&id), "{id}");
        assert!(is_id22(&new_id22()));
        assert_ne!(new_id22(), new_id22());
        assert!(!is_generated_id("id#short"));
        assert!(!is_generated_id("xx#aaaaaaaaaaaaaaaaaaaaaa"));
        assert!(is_customer_speaker_id("cust-1_a"));
        assert!(!is_customer_speaker_id("-cust"));
        assert!(!is_customer_speaker_id("id#aaaaaaaaaaaaaaaaaaaaaa"));
    }
}
