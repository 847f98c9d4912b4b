//! Telephony media framing: Genesys AudioHook sessions (JSON text messages and
//! binary audio driven through the server-side state machine), Asterisk
//! AudioSocket frames (one-shot and streamed through the frame decoder) and
//! RTP packets (header parse, G.711 decode, reordering).
//! Input: chunks separated by 0xFF bytes; each chunk's first byte picks the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voiceprint_telephony::audiohook::{self, choose_media, Input, ServerSession};
use voiceprint_telephony::{audiosocket, rtp};

fuzz_target!(|data: &[u8]| {
    let mut session = ServerSession::new();
    let mut decoder = audiosocket::FrameDecoder::new(4096);
    let mut reorder = rtp::Reorder::new(8);
    for chunk in data.split(|&b| b == 0xFF).filter(|c| !c.is_empty()) {
        let (&selector, bytes) = chunk.split_first().unwrap_or((&0, &[]));
        match selector % 6 {
            0 => {
                let _ = audiohook::parse(bytes);
                if let Ok(inputs) = session.on_text(bytes) {
                    for input in inputs {
                        if let Input::Open(open) = input {
                            match choose_media(&open.media) {
                                Ok(choice) => drop(session.opened(choice)),
                                Err(_) => drop(session.disconnect("error", "no media")),
                            }
                        }
                    }
                }
            }
            1 => drop(session.on_binary(bytes)),
            2 => {
                if let Ok(text) = std::str::from_utf8(bytes) {
                    let _ = audiohook::parse_duration(text);
                }
            }
            3 => drop(audiosocket::parse_with_limit(bytes, 4096)),
            4 => {
                decoder.push(bytes);
                while let Ok(Some(_)) = decoder.next_frame() {}
            }
            _ => {
                if let Ok(packet) = rtp::parse(bytes) {
                    let _ = rtp::decode_g711(packet.payload_type, packet.payload);
                    let _ = reorder.push(packet.sequence, packet.payload);
                }
            }
        }
    }
    let _ = reorder.flush();
});
