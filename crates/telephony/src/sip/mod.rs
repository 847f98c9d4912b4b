//! SIP (RFC 3261) as a session recording server (SIPREC, RFC 7866) needs it:
//! messages ([`Message`], [`parse`], [`parse_stream`] for TCP), multipart bodies,
//! SDP ([`sdp`]), rs-metadata ([`metadata`]) and the recording dialogs
//! ([`dialog`]).
//!
//! Not a general SIP stack: no proxying, no authentication, no forking; header
//! values are kept as text and only the ones a recording server reads are
//! interpreted. Compact header names (`i`, `l`, `c`, `f`, `t`, `v`, `m`, `k`, …)
//! are expanded on parse.

pub mod dialog;
pub mod metadata;
pub mod sdp;

use crate::{Error, Result};

/// Largest SIP message accepted (UDP datagrams and TCP messages alike).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Most headers one message may have.
pub const MAX_HEADERS: usize = 128;

/// The first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// One SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// Headers in order, names in their full form.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart {
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn full_name(name: &str) -> &str {
    match name {
        "i" | "I" => "Call-ID",
        "m" | "M" => "Contact",
        "e" | "E" => "Content-Encoding",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        "f" | "F" => "From",
        "s" | "S" => "Subject",
        "k" | "K" => "Supported",
        "t" | "T" => "To",
        "v" | "V" => "Via",
        "o" | "O" => "Event",
        "r" | "R" => "Refer-To",
        "u" | "U" => "Allow-Events",
        other => other,
    }
}

impl Message {
    pub fn request(method: &str, uri: &str) -> Self {
        Message {
            start: StartLine::Request {
                method: method.into(),
                uri: uri.into(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn response(code: u16, reason: &str) -> Self {
        Message {
            start: StartLine::Response {
                code,
                reason: reason.into(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The request method, if a request.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The first value of header `name` (case-insensitive, full name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, comma-separated lists split.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Adds a header.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn call_id(&self) -> Result<&str> {
        self.header("Call-ID")
            .ok_or_else(|| Error::malformed("SIP message", "no Call-ID"))
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Result<(u32, &str)> {
        let v = self
            .header("CSeq")
            .ok_or_else(|| Error::malformed("SIP message", "no CSeq"))?;
        let mut it = v.split_whitespace();
        let n = it
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::malformed("SIP CSeq", v.to_owned()))?;
        let m = it
            .next()
            .ok_or_else(|| Error::malformed("SIP CSeq", v.to_owned()))?;
        Ok((n, m))
    }

    /// The body's parts: one for a simple body, each part of a multipart one.
    pub fn body_parts(&self) -> Result<Vec<BodyPart>> {
        if self.body.is_empty() {
            return Ok(Vec::new());
        }
        let content_type = self.header("Content-Type").unwrap_or("").trim();
        if !media_type(content_type).starts_with("multipart/") {
            return Ok(vec![BodyPart {
                content_type: media_type(content_type),
                headers: Vec::new(),
                body: self.body.clone(),
            }]);
        }
        let boundary = param(content_type, "boundary")
            .ok_or_else(|| Error::malformed("multipart body", "Content-Type has no boundary"))?;
        split_multipart(&self.body, &boundary)
    }

    /// The message's bytes (Content-Length is set from the body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
            StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
        };
        for (n, v) in &self.headers {
            if !n.eq_ignore_ascii_case("Content-Length") {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// `type/subtype` of a Content-Type value, lower-case.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A `;name=value` parameter of a header value (quotes removed).
pub fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn parse_headers(text: &str) -> Result<Vec<(String, String)>> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Folded continuation of the previous header.
            let last = headers
                .last_mut()
                .ok_or_else(|| Error::malformed("SIP header", "continuation before any header"))?;
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::malformed("SIP header", format!("no colon in {line:?}")))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::malformed("SIP header", format!("bad name {name:?}")));
        }
        headers.push((full_name(name).to_owned(), value.trim().to_owned()));
        if headers.len() > MAX_HEADERS {
            return Err(Error::TooLarge {
                what: "SIP header list",
                len: headers.len(),
                max: MAX_HEADERS,
            });
        }
    }
    Ok(headers)
}

fn parse_start(line: &str) -> Result<StartLine> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..700).contains(c))
            .ok_or_else(|| Error::malformed("SIP status line", line.to_owned()))?;
        return Ok(StartLine::Response {
            code,
            reason: reason.to_owned(),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    match parts.as_slice() {
        [method, uri, "SIP/2.0"]
            if !method.is_empty()
                && method.bytes().all(|b| b.is_ascii_uppercase())
                && !uri.is_empty() =>
        {
            Ok(StartLine::Request {
                method: (*method).to_owned(),
                uri: (*uri).to_owned(),
            })
        }
        _ => Err(Error::malformed("SIP request line", line.to_owned())),
    }
}

/// Splits head from body; `None` when the blank line has not arrived.
fn split_head(bytes: &[u8]) -> Option<(usize, usize)> {
    if let Some(p) = find(bytes, b"\r\n\r\n", 0) {
        return Some((p, p + 4));
    }
    find(bytes, b"\n\n", 0).map(|p| (p, p + 2))
}

fn parse_head(head: &[u8]) -> Result<(StartLine, Vec<(String, String)>)> {
    let text = std::str::from_utf8(head)
        .map_err(|_| Error::malformed("SIP message", "head is not UTF-8"))?;
    let text = text.trim_start_matches(['\r', '\n']);
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    Ok((
        parse_start(first.trim_end_matches('\r'))?,
        parse_headers(rest)?,
    ))
}

fn content_length(headers: &[(String, String)]) -> Result<Option<usize>> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, v)| {
            v.parse::<usize>()
                .map_err(|_| Error::malformed("SIP Content-Length", v.clone()))
        })
        .transpose()
}

/// Parses one whole message (a UDP datagram). Without Content-Length the body
/// runs to the end; with it, a shorter body is truncated input.
pub fn parse(bytes: &[u8]) -> Result<Message> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::TooLarge {
            what: "SIP message",
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let (head_end, body_start) = split_head(bytes).unwrap_or((bytes.len(), bytes.len()));
    let (start, headers) = parse_head(&bytes[..head_end])?;
    let available = bytes.len() - body_start;
    let len = content_length(&headers)?.unwrap_or(available);
    if len > available {
        return Err(Error::Truncated {
            what: "SIP body",
            need: len,
            have: available,
        });
    }
    Ok(Message {
        start,
        headers,
        body: bytes[body_start..body_start + len].to_vec(),
    })
}

/// Parses one message from the front of a TCP stream buffer: `Ok(None)` until
/// it is complete, then the message and the bytes it used. Content-Length is
/// required on streams (RFC 3261 §18.3). Leading CRLF keep-alives are skipped.
pub fn parse_stream(buf: &[u8]) -> Result<Option<(Message, usize)>> {
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let bytes = &buf[skip..];
    let Some((head_end, body_start)) = split_head(bytes) else {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Error::TooLarge {
                what: "SIP message head",
                len: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        return Ok(None);
    };
    let (start, headers) = parse_head(&bytes[..head_end])?;
    let len = content_length(&headers)?.ok_or_else(|| {
        Error::malformed("SIP message", "no Content-Length on a stream transport")
    })?;
    // Saturating: a peer's Content-Length near usize::MAX must not wrap past the limit.
    let end = body_start.saturating_add(len);
    if end > MAX_MESSAGE_BYTES {
        return Err(Error::TooLarge {
            what: "SIP message",
            len: end,
            max: MAX_MESSAGE_BYTES,
        });
    }
    if bytes.len() < end {
        return Ok(None);
    }
    let message = Message {
        start,
        headers,
        body: bytes[body_start..end].to_vec(),
    };
    Ok(Some((message, skip + end)))
}

fn split_multipart(body: &[u8], boundary: &str) -> Result<Vec<BodyPart>> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut at = find(body, d, 0)
        .ok_or_else(|| Error::malformed("multipart body", "no boundary delimiter"))?;
    let mut parts = Vec::new();
    loop {
        at += d.len();
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        // Skip to the end of the delimiter line.
        let line_end = find(body, b"\n", at)
            .ok_or_else(|| Error::malformed("multipart body", "delimiter line never ends"))?;
        let start = line_end + 1;
        let next = find(body, d, start)
            .ok_or_else(|| Error::malformed("multipart body", "no closing boundary"))?;
        // The CRLF before the next delimiter belongs to it.
        let mut end = next;
        if end > start && body[end - 1] == b'\n' {
            end -= 1;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        let part = &body[start..end];
        let (headers, content) = match split_head(part) {
            Some((h, b)) => (
                parse_headers(std::str::from_utf8(&part[..h]).map_err(|_| {
                    Error::malformed("multipart body", "part headers are not UTF-8")
                })?)?,
                &part[b..],
            ),
            // A part that starts with its blank line has no headers.
            None if part.starts_with(b"\r\n") => (Vec::new(), &part[2..]),
            None => (Vec::new(), part),
        };
        let content_type = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
            .map(|(_, v)| media_type(v))
            .unwrap_or_else(|| "text/plain".into());
        parts.push(BodyPart {
            content_type,
            headers,
            body: content.to_vec(),
        });
        if parts.len() > 16 {
            return Err(Error::TooLarge {
                what: "multipart body",
                len: parts.len(),
                max: 16,
            });
        }
        at = next;
    }
}

/// A multipart/mixed body from parts; returns the Content-Type and the bytes.
pub fn multipart(boundary: &str, parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (content_type, content) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/mixed;boundary={boundary}"), body)
}

/// The user part of a SIP/tel URI in a header value or an AoR:
/// `"Alice" <sip:alice@example.com>;tag=1` → `alice`.
pub fn uri_user(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    };
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let user = rest.split(['@', ';', '?']).next()?;
    (!user.is_empty()).then(|| user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:srs@127.0.0.1:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
f: <sip:src@127.0.0.1>;tag=abc\r\n\
t: <sip:srs@127.0.0.1>\r\n\
i: call-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Subject: folded\r\n continuation\r\n\
Require: siprec\r\n\
c: multipart/mixed;boundary=\"XX\"\r\n\
l: 69\r\n\
\r\n\
--XX\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--XX\r\n\r\nplain\r\n--XX--\r\n";

    #[test]
    fn requests_parse_with_compact_headers_folding_and_multipart_bodies() {
        let m = parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.call_id().unwrap(), "call-1@127.0.0.1");
        assert_eq!(m.cseq().unwrap(), (1, "INVITE"));
        assert_eq!(
            m.header("via"),
            Some("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1")
        );
        assert_eq!(m.header("Subject"), Some("folded continuation"));
        assert_eq!(m.body.len(), 69);
        let parts = m.body_parts().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_type, "application/sdp");
        assert_eq!(parts[0].body, b"v=0\r\n");
        assert_eq!(parts[1].content_type, "text/plain");
        assert_eq!(parts[1].body, b"plain");
        // Serialising and parsing again gives the same message.
        assert_eq!(parse(&m.to_bytes()).unwrap(), m);
        let (ct, body) = multipart(
            "b1",
            &[
                ("application/sdp", b"x"),
                ("application/rs-metadata+xml", b"<r/>"),
            ],
        );
        let rebuilt = Message::request("INVITE", "sip:a@b").with("Content-Type", ct);
        let rebuilt = Message { body, ..rebuilt };
        let parts = parse(&rebuilt.to_bytes()).unwrap().body_parts().unwrap();
        assert_eq!(parts[1].content_type, "application/rs-metadata+xml");
        assert_eq!(parts[1].body, b"<r/>");
    }

    #[test]
    fn responses_and_stream_framing() {
        let r = parse(b"SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(
            r.start,
            StartLine::Response {
                code: 200,
                reason: "OK".into()
            }
        );
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(INVITE.as_bytes());
        stream.extend_from_slice(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        for cut in [10, INVITE.len() - 1] {
            assert_eq!(parse_stream(&stream[..cut]).unwrap(), None);
        }
        let (m, used) = parse_stream(&stream).unwrap().unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        let (m2, used2) = parse_stream(&stream[used..]).unwrap().unwrap();
        assert_eq!(m2.method(), Some("OPTIONS"));
        assert_eq!(used + used2, stream.len());
        assert_eq!(
            uri_user("\"A\" <sip:alice@example.com>;tag=1").as_deref(),
            Some("alice")
        );
        assert_eq!(
            uri_user("tel:+15551234;phone-context=x").as_deref(),
            Some("+15551234")
        );
        assert_eq!(uri_user("mailto:x"), None);
    }

    #[test]
    fn malformed_truncated_and_oversized_sip_is_a_typed_error() {
        for bad in [
            &b"HELLO\r\n\r\n"[..],
            b"INVITE sip:x SIP/3.0\r\n\r\n",
            b"SIP/2.0 99 Low\r\n\r\n",
            b"invite sip:x SIP/2.0\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nNoColon\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\n continuation\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nContent-Length: 99\r\n\r\nshort",
            b"\xff\xfe SIP/2.0\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(matches!(
            parse(b"INVITE sip:x SIP/2.0\r\nContent-Length: 99\r\n\r\nshort"),
            Err(Error::Truncated {
                need: 99,
                have: 5,
                ..
            })
        ));
        assert!(matches!(
            parse(&vec![b'a'; MAX_MESSAGE_BYTES + 1]),
            Err(Error::TooLarge { .. })
        ));
        let many: String =
            "INVITE sip:x SIP/2.0\r\n".to_owned() + &"X: y\r\n".repeat(MAX_HEADERS + 1) + "\r\n";
        assert!(matches!(
            parse(many.as_bytes()),
            Err(Error::TooLarge { .. })
        ));
        assert!(parse_stream(b"INVITE sip:x SIP/2.0\r\n\r\n").is_err()); // no Content-Length
        assert!(matches!(
            parse_stream(b"INVITE sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n"),
            Err(Error::TooLarge { .. })
        ));
        // Multipart without boundary or without the closing delimiter.
        let m = parse(b"INVITE sip:x SIP/2.0\r\nContent-Type: multipart/mixed\r\n\r\nabc").unwrap();
        assert!(m.body_parts().is_err());
        let m = parse(b"INVITE sip:x SIP/2.0\r\nContent-Type: multipart/mixed;boundary=Q\r\n\r\n--Q\r\n\r\nabc").unwrap();
        assert!(m.body_parts().is_err());
        for n in 0..INVITE.len() {
            let _ = parse(&INVITE.as_bytes()[..n]).map(|m| m.body_parts());
            let _ = parse_stream(&INVITE.as_bytes()[..n]);
        }
    }

    /// Found by the `telephony_sip` fuzz target: a stream Content-Length of
    /// usize::MAX overflowed `body_start + len` (a panic, or in release a wrapped
    /// sum that passed the size check and then sliced out of bounds).
    #[test]
    fn stream_content_length_near_usize_max_is_too_large_not_a_panic() {
        for len in [usize::MAX, usize::MAX - 10, usize::MAX / 2 + 1] {
            let msg = format!("INVITE sip:x SIP/2.0\r\nv: 2 BYE\r\nContent-Length: {len}\r\n\r\n");
            assert!(
                matches!(
                    parse_stream(msg.as_bytes()),
                    Err(Error::TooLarge { len: l, .. }) if l == usize::MAX || l > MAX_MESSAGE_BYTES
                ),
                "Content-Length {len}"
            );
            assert!(parse(msg.as_bytes()).is_err(), "Content-Length {len}");
        }
    }
}
