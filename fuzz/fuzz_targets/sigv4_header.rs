//! SigV4: the Authorization header parser, X-Amz-Date parsing and the whole
//! verification (canonical request from fuzzed headers, path and query).
//! Input: an optional request line `METHOD /path?query`, then `name: value`
//! header lines, an empty line and the body.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use voiceprint_server::sigv4::{parse_amz_date, parse_authorization, verify, RequestParts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_authorization(text);
    let _ = parse_amz_date(text);

    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let (mut method, mut path, mut query) = ("POST", "/", "");
    let mut headers = HeaderMap::new();
    for (i, line) in head.split('\n').enumerate() {
        if let Some((m, target)) = line
            .split_once(' ')
            .filter(|(_, t)| i == 0 && t.starts_with('/'))
        {
            method = m;
            (path, query) = target.split_once('?').unwrap_or((target, ""));
        } else if let Some((name, value)) = line.split_once(':') {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) {
                headers.append(n, v);
            }
        }
    }
    let req = RequestParts {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    // 2015-08-30T12:36:00Z: the AWS test-suite date, so seeds signed then pass the clock check.
    let now = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let lookup = |id: &str| {
        (id == "AKIDEXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned())
    };
    let _ = verify(&req, &lookup, now, "service");
    let _ = verify(&req, &lookup, now, "voiceid");
});
