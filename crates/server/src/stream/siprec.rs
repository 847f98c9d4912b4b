//! SIPREC (RFC 7866) recording server: SIP over UDP and TCP on `[siprec]
//! listen`, RTP over UDP on `[siprec] rtp_ip` (ports from `rtp_port_min`–`max`).
//!
//! Each INVITE with `Require: siprec` (see [`voiceprint_telephony::sip::dialog`])
//! is one call: its caller stream is accepted on a local RTP port, the others
//! are rejected. The call's session in `[siprec] domain_id` is named after the
//! Call-ID (`dialog::session_name`), started or joined, its customer taken by
//! `customer_id_from`. RTP packets go through a small reorder window (gaps
//! filled with G.711 silence, so timing is kept) into the session's feed. BYE,
//! or no RTP for `rtp_timeout_seconds`, ENDS the session. Responses go back to
//! the address a request came from (no Via/rport routing).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use voiceprint_audio::RawFormat;
use voiceprint_telephony::rtp;
use voiceprint_telephony::sip::dialog::{
    session_name, CallEvent, CallMedia, CustomerRule, Recorder, RecorderConfig,
};
use voiceprint_telephony::sip::{self, Message};

use super::{public_reason, StreamState};

/// Packets the reorder window holds before declaring one lost (60 ms at 20 ms).
const REORDER_WINDOW: usize = 3;
/// Longest gap filled with silence, in samples (a second).
const MAX_FILL_SAMPLES: usize = 8000;

/// What a call's media task is told.
enum Control {
    /// re-INVITE: the payload type may have changed.
    Update(u8),
    /// BYE.
    End,
}

struct Shared {
    state: StreamState,
    recorder: Mutex<Recorder>,
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<Control>>>,
    /// Next port to try in the RTP range.
    next_port: Mutex<u16>,
}

/// Starts the UDP and TCP SIP loops.
pub fn serve(
    udp: UdpSocket,
    tcp: TcpListener,
    state: StreamState,
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let config = &state.app.config.siprec;
    let customer = CustomerRule::parse(&config.customer_id_from).map_err(|e| e.to_string())?;
    let sip_port = udp.local_addr().map(|a| a.port()).unwrap_or(5060);
    let recorder = Recorder::new(RecorderConfig {
        local_ip: config.rtp_ip.clone(),
        sip_port,
        customer,
        max_calls: config.max_calls,
    });
    let shared = Arc::new(Shared {
        next_port: Mutex::new(config.rtp_port_min),
        state,
        recorder: Mutex::new(recorder),
        calls: Mutex::new(HashMap::new()),
    });
    let udp_task = tokio::spawn(udp_loop(udp, Arc::clone(&shared)));
    let tcp_task = tokio::spawn(tcp_loop(tcp, shared));
    Ok(vec![udp_task, tcp_task])
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn udp_loop(udp: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; sip::MAX_MESSAGE_BYTES + 1];
    loop {
        let (n, peer) = match udp.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "SIP UDP receive failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // CRLF keep-alives.
        if buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match sip::parse(&buf[..n]) {
            Ok(msg) => {
                for reply in handle(&shared, &msg) {
                    let _ = udp.send_to(&reply.to_bytes(), peer).await;
                }
            }
            Err(e) => tracing::info!(%peer, error = %e, "malformed SIP datagram dropped"),
        }
    }
}

async fn tcp_loop(tcp: TcpListener, shared: Arc<Shared>) {
    loop {
        match tcp.accept().await {
            Ok((conn, peer)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Err(why) = tcp_connection(conn, &shared).await {
                        tracing::info!(%peer, reason = %why, "SIP TCP connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn tcp_connection(mut conn: TcpStream, shared: &Arc<Shared>) -> Result<(), String> {
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        loop {
            match sip::parse_stream(&pending) {
                Ok(Some((msg, used))) => {
                    pending.drain(..used);
                    for reply in handle(shared, &msg) {
                        conn.write_all(&reply.to_bytes())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(None) => break,
                // A stream cannot be resynchronised after a framing error.
                Err(e) => return Err(format!("bad SIP message: {e}")),
            }
        }
        let n = conn.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Binds an RTP socket in the configured range.
fn bind_rtp(shared: &Shared) -> std::io::Result<StdUdpSocket> {
    let config = &shared.state.app.config.siprec;
    let ip: std::net::IpAddr = config
        .rtp_ip
        .parse()
        .map_err(|_| std::io::Error::other("rtp_ip is not an IP address"))?;
    if config.rtp_port_min == 0 {
        return StdUdpSocket::bind((ip, 0));
    }
    let (min, max) = (config.rtp_port_min, config.rtp_port_max);
    let mut next = lock(&shared.next_port);
    for _ in 0..=(max - min) {
        let port = (*next).clamp(min, max);
        *next = if port >= max { min } else { port + 1 };
        if let Ok(s) = StdUdpSocket::bind((ip, port)) {
            return Ok(s);
        }
    }
    Err(std::io::Error::other(
        "every RTP port in the range is in use",
    ))
}

/// Runs one SIP request through the recorder; starts, updates or ends calls.
fn handle(shared: &Arc<Shared>, msg: &Message) -> Vec<Message> {
    let mut bound: Option<StdUdpSocket> = None;
    let outcome = {
        let mut allocate = |_: &str| {
            let socket = bind_rtp(shared)
                .map_err(|e| voiceprint_telephony::Error::Protocol(format!("RTP port: {e}")))?;
            let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
            bound = Some(socket);
            Ok(port)
        };
        lock(&shared.recorder).handle(msg, &mut allocate)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            tracing::info!(error = %e, "SIP request dropped");
            return Vec::new();
        }
    };
    match outcome.event {
        Some(CallEvent::Started(media)) => match bound.take().map(|s| {
            s.set_nonblocking(true)?;
            UdpSocket::from_std(s)
        }) {
            Some(Ok(rtp_socket)) => {
                let (tx, rx) = mpsc::unbounded_channel();
                lock(&shared.calls).insert(media.call_id.clone(), tx);
                tokio::spawn(call(Arc::clone(shared), rtp_socket, media, rx));
            }
            _ => tracing::warn!("SIPREC call without an RTP socket"),
        },
        Some(CallEvent::Updated(media)) => {
            if let Some(tx) = lock(&shared.calls).get(&media.call_id) {
                let _ = tx.send(Control::Update(media.payload_type));
            }
        }
        Some(CallEvent::Ended { call_id }) => {
            if let Some(tx) = lock(&shared.calls).remove(&call_id) {
                let _ = tx.send(Control::End);
            }
        }
        None => {}
    }
    outcome.replies
}

/// One call's media: RTP in, the session's feed out, until BYE or RTP timeout.
async fn call(
    shared: Arc<Shared>,
    rtp_socket: UdpSocket,
    media: CallMedia,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let config = shared.state.app.config.siprec.clone();
    let name = session_name(&media.call_id);
    let payload_type = media.payload_type;
    let format = |pt: u8| RawFormat {
        encoding: rtp::g711_encoding(pt).unwrap_or(voiceprint_audio::RawEncoding::Mulaw),
        sample_rate: 8000,
        channels: 1,
    };
    let feed = super::telephony::open_call(
        &shared.state,
        &config.domain_id,
        &name,
        media.customer_id.clone(),
        format(payload_type),
    )
    .await;
    let mut feed = match feed {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(call_id = %media.call_id, reason = %public_reason(&e), "SIPREC call not recorded");
            // Keep the dialog; its RTP is dropped with this socket.
            lock(&shared.calls).remove(&media.call_id);
            return;
        }
    };
    let timeout = std::time::Duration::from_secs_f64(config.rtp_timeout_seconds);
    let mut reorder = rtp::Reorder::new(REORDER_WINDOW);
    let mut buf = vec![0u8; 2048];
    let mut source: Option<SocketAddr> = None;
    let mut packet_samples = 160usize;
    let ended_by: &str = loop {
        let received = tokio::select! {
            c = control.recv() => match c {
                Some(Control::Update(pt)) => {
                    if pt != payload_type {
                        // The feed's format is fixed; a law change mid-call is rare
                        // enough to end the recording rather than mis-decode it.
                        break "re-INVITE changed the payload type";
                    }
                    continue;
                }
                Some(Control::End) | None => break "BYE",
            },
            r = tokio::time::timeout(timeout, rtp_socket.recv_from(&mut buf)) => r,
        };
        let (n, from) = match received {
            Err(_) => break "RTP timeout",
            Ok(Err(_)) => continue,
            Ok(Ok(r)) => r,
        };
        // The first sender owns the stream (no SSRC switching mid-call).
        if *source.get_or_insert(from) != from {
            continue;
        }
        let Ok(packet) = rtp::parse(&buf[..n]) else {
            continue;
        };
        // telephone-event and other payloads on the same stream are skipped.
        if packet.payload_type != payload_type {
            continue;
        }
        if !packet.payload.is_empty() {
            packet_samples = packet.payload.len();
        }
        let mut failed = None;
        for p in reorder.push(packet.sequence, packet.payload) {
            if let Err(e) = push_in_order(&mut feed, &p, payload_type, packet_samples).await {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            tracing::info!(call_id = %media.call_id, reason = %public_reason(&e), "SIPREC call stopped");
            break "stream refused";
        }
    };
    for p in reorder.flush() {
        if push_in_order(&mut feed, &p, payload_type, packet_samples)
            .await
            .is_err()
        {
            break;
        }
    }
    let session = feed.session_id.clone();
    match feed.finish(true).await {
        Ok(update) => {
            let decision = update
                .evaluation
                .as_ref()
                .and_then(|e| e.authentication_result.as_ref())
                .and_then(|a| a.get("Decision").cloned());
            tracing::info!(call_id = %media.call_id, session, ended_by, ?decision, "SIPREC call ended");
        }
        Err(e) => {
            tracing::info!(call_id = %media.call_id, reason = %public_reason(&e), "SIPREC session end")
        }
    }
    if ended_by != "BYE" {
        // The dialog is over for us: a later BYE is answered 481.
        lock(&shared.calls).remove(&media.call_id);
        lock(&shared.recorder).forget(&media.call_id);
    }
}

/// Feeds one in-order packet, after silence for the packets lost before it.
async fn push_in_order(
    feed: &mut super::SessionFeed,
    packet: &rtp::InOrder,
    payload_type: u8,
    packet_samples: usize,
) -> Result<(), voiceprint_voiceid::Error> {
    if packet.lost_before > 0 {
        let samples = (packet.lost_before as usize * packet_samples).min(MAX_FILL_SAMPLES);
        feed.push(&vec![rtp::g711_silence(payload_type); samples])
            .await?;
    }
    feed.push(&packet.payload).await.map(|_| ())
}
