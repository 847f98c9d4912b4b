//! What the telephony ingresses (AudioSocket, AudioHook, SIPREC) share: opening
//! a call's session from a trusted listener, and starting the listeners that
//! `[audiosocket]` / `[siprec]` switch on.
//!
//! These listeners are not SigV4-signed: the PBX / recording client is trusted
//! by network placement (AudioSocket, SIPREC) or by API key (AudioHook), and
//! may start sessions like a signed caller (docs/TELEPHONY.md).

use std::net::SocketAddr;

use voiceprint_audio::RawFormat;
use voiceprint_voiceid::Error as VoiceIdError;

use super::{blocking, resolve_session, SessionFeed, StreamAuth, StreamState};
use crate::error::ServeError;

/// A CustomerSpeakerId (`[a-zA-Z0-9][a-zA-Z0-9_-]*`, at most 256) from a value a
/// call carries: a phone number (`+1 (555) 555-1234`, only digits and `+-(). `)
/// keeps its digits (`15555551234`), so every formatting of one number is one
/// customer; anything else drops the characters the model does not allow.
pub fn customer_speaker_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let phone = raw.chars().any(|c| c.is_ascii_digit())
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || "+-(). ".contains(c));
    let kept: String = if phone {
        raw.chars().filter(char::is_ascii_digit).collect()
    } else {
        raw.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    };
    let id: String = kept
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(256)
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Opens the session `session_name` of `domain_id` (starting it when needed) and
/// a feed into it; `speaker` names (or confirms) the customer, as
/// [`customer_speaker_id`] makes it fit the model.
pub async fn open_call(
    state: &StreamState,
    domain_id: &str,
    session_name: &str,
    speaker: Option<String>,
    format: RawFormat,
) -> Result<SessionFeed, VoiceIdError> {
    super::native::check_path(domain_id, session_name).map_err(VoiceIdError::Validation)?;
    let speaker = speaker.as_deref().and_then(customer_speaker_id);
    let service = state.app.service.clone();
    let (d, n) = (domain_id.to_owned(), session_name.to_owned());
    let session_id = blocking(move || {
        let id = resolve_session(&service, &StreamAuth::Signed, &d, &n, speaker.as_deref())?;
        if let Some(s) = speaker {
            service.update_session(voiceprint_voiceid::types::UpdateSessionRequest {
                domain_id: d.clone(),
                session_name_or_id: id.clone(),
                speaker_id: Some(s),
                authentication_configuration: None,
                fraud_detection_configuration: None,
                streaming_configuration: None,
            })?;
        }
        Ok(id)
    })
    .await?;
    SessionFeed::open(state, domain_id.to_owned(), session_id, format, 0).await
}

/// The telephony listeners that are on; dropping this stops them.
#[derive(Default)]
pub struct TelephonyListeners {
    /// Bound address of the AudioSocket listener.
    pub audiosocket: Option<SocketAddr>,
    /// Bound address of the SIPREC listener (UDP and TCP).
    pub siprec: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TelephonyListeners {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds and starts the listeners `[audiosocket]` and `[siprec]` turn on.
pub async fn start(state: &StreamState) -> Result<TelephonyListeners, ServeError> {
    let config = state.app.config.clone();
    let mut out = TelephonyListeners::default();
    let bind_error = |addr: SocketAddr| move |source| ServeError::Bind { addr, source };
    if !config.audiosocket.listen.is_empty() {
        let addr: SocketAddr = parse_addr("audiosocket", &config.audiosocket.listen)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(bind_error(addr))?;
        out.audiosocket = Some(listener.local_addr().map_err(ServeError::Server)?);
        tracing::info!(addr = ?out.audiosocket, "AudioSocket listening");
        out.tasks.push(tokio::spawn(super::audiosocket::serve(
            listener,
            state.clone(),
        )));
    }
    if !config.siprec.listen.is_empty() {
        let addr: SocketAddr = parse_addr("siprec", &config.siprec.listen)?;
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(bind_error(addr))?;
        let bound = udp.local_addr().map_err(ServeError::Server)?;
        // TCP on the same port as UDP (SIP's convention).
        let tcp = tokio::net::TcpListener::bind(bound)
            .await
            .map_err(bind_error(bound))?;
        out.siprec = Some(bound);
        tracing::info!(addr = %bound, "SIPREC listening (UDP and TCP)");
        out.tasks
            .extend(super::siprec::serve(udp, tcp, state.clone()).map_err(ServeError::Config)?);
    }
    Ok(out)
}

fn parse_addr(section: &str, text: &str) -> Result<SocketAddr, ServeError> {
    text.parse()
        .map_err(|_| ServeError::Config(format!("{section}.listen: {text:?} is not host:port")))
}

#[cfg(test)]
mod tests {
    use super::customer_speaker_id;

    #[test]
    fn call_metadata_becomes_a_valid_customer_speaker_id() {
        for (raw, id) in [
            ("customer-a", Some("customer-a")),
            ("+1 (555) 555-1234", Some("15555551234")),
            ("+15555551234", Some("15555551234")),
            ("  cust_7 ", Some("cust_7")),
            ("-x.y@z", Some("xyz")),
            ("+", None),
            ("", None),
        ] {
            assert_eq!(customer_speaker_id(raw).as_deref(), id, "{raw:?}");
        }
        assert_eq!(customer_speaker_id(&"a".repeat(300)).unwrap().len(), 256);
    }
}
