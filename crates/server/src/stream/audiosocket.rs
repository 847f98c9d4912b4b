//! Asterisk AudioSocket over TCP (`[audiosocket] listen`): one connection per
//! call, as the dialplan's `AudioSocket(<uuid>, host:port)` opens it.
//!
//! The UUID frame names the session (SessionName = the UUID's text form) in
//! `[audiosocket] domain_id`; a session that does not exist is started without
//! a speaker, so the usual flow is StartSession (SessionName = the UUID,
//! SpeakerId = the customer) before the dialplan connects. Audio frames (16-bit
//! signed little-endian, 8 kHz mono) feed the session; a hangup, an error frame,
//! the socket closing or `[sessions] idle_timeout_seconds` without a frame ENDS
//! it. Malformed or oversized frames close the connection (the stream cannot be
//! resynchronised); the speech heard until then still counts.

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use voiceprint_audio::{RawEncoding, RawFormat};
use voiceprint_telephony::audiosocket::{uuid_string, Frame, FrameDecoder};

use super::{public_reason, SessionFeed, StreamState};

/// The format of AudioSocket audio frames.
pub const FORMAT: RawFormat = RawFormat {
    encoding: RawEncoding::PcmS16le,
    sample_rate: 8000,
    channels: 1,
};

/// Accepts connections until the task is aborted.
pub async fn serve(listener: TcpListener, state: StreamState) {
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = conn.set_nodelay(true);
                    if let Err(why) = call(conn, &state).await {
                        tracing::info!(%peer, reason = %why, "AudioSocket call closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "AudioSocket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One call; Err says why it ended abnormally.
async fn call(mut conn: TcpStream, state: &StreamState) -> Result<(), String> {
    let config = &state.app.config.audiosocket;
    let idle = std::time::Duration::from_secs_f64(state.hub.limits.idle_timeout_seconds);
    let mut decoder = FrameDecoder::new(config.max_frame_bytes);
    let mut feed: Option<SessionFeed> = None;
    let mut buf = vec![0u8; 8192];
    let outcome: Result<(), String> = 'call: loop {
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => break 'call Err(format!("bad frame: {e}")),
            };
            match frame {
                Frame::Uuid(uuid) => {
                    if feed.is_some() {
                        break 'call Err("a second UUID frame".into());
                    }
                    let name = uuid_string(&uuid);
                    match super::telephony::open_call(state, &config.domain_id, &name, None, FORMAT)
                        .await
                    {
                        Ok(f) => feed = Some(f),
                        Err(e) => break 'call Err(public_reason(&e)),
                    }
                }
                Frame::Audio(samples) => {
                    let Some(f) = feed.as_mut() else {
                        break 'call Err("audio before the UUID frame".into());
                    };
                    if let Err(e) = f.push(&samples).await {
                        break 'call Err(public_reason(&e));
                    }
                }
                Frame::Hangup => break 'call Ok(()),
                Frame::Error(code) => break 'call Err(format!("Asterisk sent error {code:?}")),
                Frame::Dtmf(_) => {}
                Frame::Other { kind, .. } => {
                    break 'call Err(format!(
                        "frame kind {kind:#04x} is not supported (8 kHz audio 0x10 only)"
                    ))
                }
            }
        }
        match tokio::time::timeout(idle, conn.read(&mut buf)).await {
            Err(_) => {
                break Err(format!(
                    "idle timeout: no frame for {:.0} s",
                    idle.as_secs_f64()
                ))
            }
            // The socket closing is a hangup too (the protocol allows either).
            Ok(Ok(0)) | Ok(Err(_)) => break Ok(()),
            Ok(Ok(n)) => decoder.push(&buf[..n]),
        }
    };
    if let Some(f) = feed {
        let session = f.session_id.clone();
        match f.finish(true).await {
            Ok(update) => {
                if let Some(e) = update.evaluation {
                    tracing::info!(session, decision = ?e.authentication_result.as_ref().and_then(|a| a.get("Decision")), "AudioSocket call ended");
                }
            }
            Err(e) => return Err(public_reason(&e)),
        }
    }
    outcome
}
