//! A minimal SigV4-signed client of a running voiceprint server for the CLI's
//! server-side commands (`jobs`, `flow run`): awsJson1_0 calls and audio POSTs over
//! plain HTTP/1.1, the same requests boto3 sends.
//!
//! What it does not do: TLS (plain `http://` to the server or a local proxy; the
//! server has no TLS either), connection reuse (one connection per call).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use voiceprint_server::auth::Credentials;
use voiceprint_server::sigv4::{sign_headers, SigningKey};

use crate::error::CliError;

/// Where the server is and how to sign for it.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// Server base URL (http:// only).
    #[arg(
        long,
        env = "VOICEPRINT_ENDPOINT",
        default_value = "http://127.0.0.1:7700"
    )]
    pub endpoint: String,
    /// SigV4 region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// Read the credentials the server created in DIR/credentials (when the keys are not given).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A minimal signed awsJson1_0 client over HTTP/1.1 (one connection per call).
pub struct Client {
    host_port: String,
    access_key_id: String,
    secret_access_key: String,
    region: String,
}

/// An empty header map of the type `sign_headers` takes (inferred from its
/// signature, so this crate needs no direct `http` dependency).
fn headers_for<H: Default>(_: fn(&str, &str, &str, &mut H, &[u8], &SigningKey, SystemTime)) -> H {
    H::default()
}

impl Client {
    pub fn new(c: &Connection) -> Result<Self, CliError> {
        let Some(rest) = c.endpoint.strip_prefix("http://") else {
            return Err(CliError::Usage(format!(
                "--endpoint {}: only http:// endpoints are supported",
                c.endpoint
            )));
        };
        let host_port = rest.trim_end_matches('/').to_owned();
        let (access_key_id, secret_access_key) = match (&c.access_key_id, &c.secret_access_key, &c.data_dir) {
            (Some(id), Some(secret), _) => (id.clone(), secret.clone()),
            (_, _, Some(dir)) => Credentials::read_shared_credentials_file(&dir.join("credentials"))
                .map_err(|e| CliError::Failed(e.to_string()))?,
            _ => {
                return Err(CliError::Usage(
                    "no credentials: pass --access-key-id and --secret-access-key (or AWS_* env), or --data-dir"
                        .into(),
                ))
            }
        };
        Ok(Client {
            host_port,
            access_key_id,
            secret_access_key,
            region: c.region.clone(),
        })
    }

    /// Calls `op`; a non-200 answer becomes an error with the AWS error type and message.
    pub fn call(&self, op: &str, body: &Value) -> Result<Value, CliError> {
        let body = serde_json::to_vec(body).map_err(|e| CliError::Failed(e.to_string()))?;
        let (status, payload) = self.send(
            "/",
            "",
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", &format!("VoiceID.{op}")),
            ],
            &body,
        )?;
        Self::json_or_error(op, status, &payload)
    }

    /// POSTs raw bytes (e.g. a recording to `/v1/sessions/{domain}/{session}/audio`).
    pub fn post(&self, path: &str, query: &str, body: &[u8]) -> Result<Value, CliError> {
        let (status, payload) = self.send(path, query, &[], body)?;
        Self::json_or_error(path, status, &payload)
    }

    fn json_or_error(what: &str, status: u16, payload: &[u8]) -> Result<Value, CliError> {
        let v: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        if status != 200 {
            return Err(CliError::Failed(format!(
                "{what}: HTTP {status} {}: {}",
                v["__type"].as_str().unwrap_or(""),
                v["message"]
                    .as_str()
                    .or(v["Message"].as_str())
                    .unwrap_or("")
            )));
        }
        Ok(v)
    }

    /// One signed POST; returns the status and body.
    fn send(
        &self,
        path: &str,
        query: &str,
        extra: &[(&'static str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), CliError> {
        let mut headers = headers_for(sign_headers);
        let value = |s: &str| {
            s.parse()
                .map_err(|_| CliError::Usage(format!("not a valid header value: {s:?}")))
        };
        headers.insert("host", value(&self.host_port)?);
        for (name, v) in extra {
            headers.insert(*name, value(v)?);
        }
        sign_headers(
            "POST",
            path,
            query,
            &mut headers,
            body,
            &SigningKey {
                access_key_id: &self.access_key_id,
                secret_access_key: &self.secret_access_key,
                region: &self.region,
                service: "voiceid",
            },
            SystemTime::now(),
        );
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let mut request = format!("POST {target} HTTP/1.1\r\n");
        for (name, v) in headers.iter() {
            request.push_str(&format!(
                "{}: {}\r\n",
                name.as_str(),
                v.to_str().unwrap_or_default()
            ));
        }
        request.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        let failed = |e: std::io::Error| CliError::Failed(format!("{}: {e}", self.host_port));
        let mut stream = TcpStream::connect(&self.host_port).map_err(failed)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(failed)?;
        stream.write_all(request.as_bytes()).map_err(failed)?;
        stream.write_all(body).map_err(failed)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(failed)?;
        parse_response(&raw)
            .ok_or_else(|| CliError::Failed(format!("{}: malformed HTTP response", self.host_port)))
    }
}

/// Status and body of a complete HTTP/1.1 response (Content-Length, chunked, or
/// read-to-close bodies).
fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_length_or_chunks() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain), Some((200, b"{}".to_vec())));
        let chunked = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((400, b"{\"a\":1}".to_vec())));
        assert_eq!(parse_response(b"garbage"), None);
    }
}
