//! SIPREC signalling: SIP messages (one-shot and from a stream buffer), their
//! multipart bodies, SDP offers and rs-metadata XML, and the recorder's dialog
//! state machine answering whatever parsed. First byte: which entry point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voiceprint_telephony::sip::dialog::{CustomerRule, Recorder, RecorderConfig};
use voiceprint_telephony::sip::{self, metadata, sdp};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => drop(sdp::parse(bytes)),
        1 => drop(metadata::parse(bytes)),
        2 => {
            if let Ok(text) = std::str::from_utf8(bytes) {
                let _ = CustomerRule::parse(text);
            }
        }
        _ => {
            let mut recorder = Recorder::new(RecorderConfig {
                local_ip: "127.0.0.1".into(),
                sip_port: 5060,
                customer: CustomerRule::parse("caller_aor_user").expect("a valid rule"),
                max_calls: 4,
            });
            let mut port = 40_000u16;
            let mut allocate = |_: &str| {
                port += 2;
                Ok(port)
            };
            let mut rest = bytes;
            while let Ok(Some((msg, used))) = sip::parse_stream(rest) {
                if let Ok(parts) = msg.body_parts() {
                    for part in parts {
                        let _ = sdp::parse(&part.body);
                        let _ = metadata::parse(&part.body);
                    }
                }
                let _ = recorder.handle(&msg, &mut allocate);
                if used == 0 || used >= rest.len() {
                    break;
                }
                rest = &rest[used..];
            }
            let _ = sip::parse(bytes);
        }
    }
});
