//! awsJson1_0 request bodies through the server's own parsing, model
//! validation and typed decoding, for every operation. First byte: operation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voiceprint_server::request::validate_request;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ops = voiceprint_server::OPERATIONS;
    let ext = voiceprint_server::EXTENSION_OPERATIONS;
    let i = usize::from(selector) % (ops.len() + ext.len());
    let op = if i < ops.len() {
        ops[i]
    } else {
        ext[i - ops.len()]
    };
    let _ = validate_request(op, body);
});
