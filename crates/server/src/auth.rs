//! Who may call the API: the credentials the server accepts and the
//! [`Authenticator`] that checks a request against them.
//!
//! The check itself is Signature V4 (`sigv4::verify`, service `voiceid`); this
//! module only adapts it to the server: where secrets come from, how failures
//! become [`ApiError::Auth`], and the explicit `--no-auth` mode.

use std::collections::HashMap;
use std::path::Path;

use axum::http::HeaderMap;

use crate::error::{ApiError, ServeError};

/// The AWS shared-credentials profile the server writes and reads.
pub const PROFILE: &str = "voiceprint";
/// SigV4 signing name of Voice ID.
pub const SERVICE: &str = "voiceid";

/// Access key id → secret access key.
#[derive(Clone, Default)]
pub struct Credentials {
    secrets: HashMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_ids", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    pub fn insert(&mut self, access_key_id: &str, secret_access_key: &str) {
        self.secrets
            .insert(access_key_id.to_string(), secret_access_key.to_string());
    }

    pub fn secret(&self, access_key_id: &str) -> Option<String> {
        self.secrets.get(access_key_id).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Generate a fresh key pair in AWS's shapes (20-char `AKIA…` id, 40-char secret).
    pub fn generate() -> (String, String) {
        use rand::Rng;
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut rng = rand::rngs::OsRng;
        let id: String = (0..16)
            .map(|_| UPPER[rng.gen_range(0..UPPER.len())] as char)
            .collect();
        let secret: String = (0..40)
            .map(|_| SECRET[rng.gen_range(0..SECRET.len())] as char)
            .collect();
        (format!("AKIA{id}"), secret)
    }

    /// Render one profile of an AWS shared-credentials file.
    pub fn shared_credentials_file(access_key_id: &str, secret_access_key: &str) -> String {
        format!("[{PROFILE}]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n")
    }

    /// Read the `voiceprint` profile from an AWS shared-credentials file.
    pub fn read_shared_credentials_file(path: &Path) -> Result<(String, String), ServeError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServeError::io(path, e))?;
        let mut in_profile = false;
        let (mut id, mut secret) = (None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_profile = line.trim_matches(|c| c == '[' || c == ']').trim() == PROFILE;
            } else if in_profile {
                if let Some((k, v)) = line.split_once('=') {
                    match k.trim() {
                        "aws_access_key_id" => id = Some(v.trim().to_string()),
                        "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                        _ => {}
                    }
                }
            }
        }
        match (id, secret) {
            (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => Ok((i, s)),
            _ => Err(ServeError::Config(format!(
                "{}: no [{PROFILE}] profile with aws_access_key_id and aws_secret_access_key",
                path.display()
            ))),
        }
    }
}

/// The parts of an HTTP request a signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Decides whether a request may proceed; returns the caller's access key id.
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate(&self, request: &SignedRequest<'_>) -> Result<String, ApiError>;
}

/// Signature V4 against [`Credentials`].
#[derive(Debug)]
pub struct SigV4Authenticator {
    pub credentials: Credentials,
}

impl Authenticator for SigV4Authenticator {
    fn authenticate(&self, request: &SignedRequest<'_>) -> Result<String, ApiError> {
        let parts = crate::sigv4::RequestParts {
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body: request.body,
        };
        let lookup = |id: &str| self.credentials.secret(id);
        crate::sigv4::verify(&parts, &lookup, std::time::SystemTime::now(), SERVICE)
            .map(|caller| caller.access_key_id)
            .map_err(|e| ApiError::Auth {
                aws_type: e.aws_error_type().to_string(),
                status: e.http_status(),
                message: e.to_string(),
            })
    }
}

/// `--no-auth`: every request is let through (local experiments only).
#[derive(Debug, Default)]
pub struct NoAuth;

impl Authenticator for NoAuth {
    fn authenticate(&self, _request: &SignedRequest<'_>) -> Result<String, ApiError> {
        Ok("anonymous".into())
    }
}
