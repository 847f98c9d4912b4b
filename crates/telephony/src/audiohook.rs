//! Genesys Cloud AudioHook (protocol version 2): JSON text messages and binary
//! audio frames over one WebSocket that Genesys Cloud (the client) opens.
//!
//! Every text message carries `version` "2", `id` (the session UUID), `type`,
//! `seq` (the sender's counter, 1, 2, 3 …), the last sequence number seen from the
//! other side (`serverseq` in client messages, `clientseq` in server messages), a
//! `position` (ISO 8601 duration of audio sent so far, e.g. `PT1.5S`) and
//! `parameters`. Client → server: `open`, `ping`, `close`, `paused`, `resumed`,
//! `update`, `discarded`, `dtmf`, `error`. Server → client: `opened`, `pong`,
//! `closed`, `pause`, `resume`, `event`, `disconnect`.
//!
//! Audio frames are raw samples in the negotiated format (`PCMU`: μ-law bytes;
//! `L16`: 16-bit signed little-endian), 8 kHz, channels interleaved in the order
//! `opened` listed them (`external` = the customer, `internal` = the agent).
//!
//! [`ServerSession`] is the server side as a state machine: text and binary
//! frames in, [`Input`]s out, and the JSON of each reply.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{Error, Result};

pub const PROTOCOL_VERSION: &str = "2";
/// Largest text message accepted (an `open` is a few kilobytes).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The channel that carries the customer.
pub const CUSTOMER_CHANNEL: &str = "external";

/// An audio encoding AudioHook offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFormat {
    Pcmu,
    L16,
}

impl MediaFormat {
    pub fn name(self) -> &'static str {
        match self {
            MediaFormat::Pcmu => "PCMU",
            MediaFormat::L16 => "L16",
        }
    }

    pub fn bytes_per_sample(self) -> usize {
        match self {
            MediaFormat::Pcmu => 1,
            MediaFormat::L16 => 2,
        }
    }
}

/// One media offer of an `open` message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaOffer {
    #[serde(rename = "type")]
    pub kind: String,
    pub format: String,
    pub channels: Vec<String>,
    pub rate: u32,
}

/// The media chosen from the offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaChoice {
    pub format: MediaFormat,
    pub channels: Vec<String>,
    pub rate: u32,
    /// Index of the `external` channel in the interleaved frames.
    pub customer_channel: usize,
}

impl MediaChoice {
    /// Bytes per interleaved sample frame (all channels).
    pub fn frame_bytes(&self) -> usize {
        self.format.bytes_per_sample() * self.channels.len()
    }

    fn to_json(&self) -> Value {
        json!({"type": "audio", "format": self.format.name(), "channels": self.channels, "rate": self.rate})
    }
}

/// Picks the offer to accept: audio at 8 kHz in PCMU or L16 with an `external`
/// channel; an external-only (mono) offer over a stereo one, PCMU over L16.
pub fn choose_media(offers: &[MediaOffer]) -> Result<MediaChoice> {
    offers
        .iter()
        .filter_map(|o| {
            let format = match o.format.as_str() {
                "PCMU" => MediaFormat::Pcmu,
                "L16" => MediaFormat::L16,
                _ => return None,
            };
            let customer_channel = o.channels.iter().position(|c| c == CUSTOMER_CHANNEL)?;
            let ok = o.kind == "audio" && o.rate == 8000 && (1..=2).contains(&o.channels.len());
            ok.then(|| MediaChoice {
                format,
                channels: o.channels.clone(),
                rate: o.rate,
                customer_channel,
            })
        })
        .min_by_key(|c| (c.channels.len(), c.format != MediaFormat::Pcmu))
        .ok_or_else(|| {
            Error::unsupported(
                "AudioHook media",
                "no offer of 8 kHz PCMU or L16 audio with an \"external\" channel",
            )
        })
}

/// The `participant` of an `open` message (the customer's telephony identity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Participant {
    pub id: String,
    pub ani: String,
    pub ani_name: String,
    pub dnis: String,
}

/// The parameters of an `open` message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenParameters {
    #[serde(default)]
    pub organization_id: String,
    pub conversation_id: String,
    #[serde(default)]
    pub participant: Participant,
    pub media: Vec<MediaOffer>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub custom_config: Map<String, Value>,
    #[serde(default)]
    pub input_variables: Map<String, Value>,
}

/// A client message's meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Open(Box<OpenParameters>),
    Ping,
    Close {
        reason: String,
    },
    Paused,
    Resumed,
    Update(Map<String, Value>),
    Discarded,
    Dtmf(String),
    Error {
        code: u64,
        message: String,
    },
    /// A type this implementation does not know (ignored, forward compatible).
    Other(String),
}

/// A parsed client text message.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEnvelope {
    pub id: String,
    pub seq: u64,
    pub serverseq: u64,
    /// Seconds of audio the client has sent (`position`).
    pub position_seconds: Option<f64>,
    pub message: ClientMessage,
}

#[derive(Deserialize)]
struct RawEnvelope {
    version: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    seq: u64,
    #[serde(default)]
    serverseq: u64,
    #[serde(default)]
    position: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// Parses an ISO 8601 duration as AudioHook writes positions (`PT12.34S`,
/// `PT1M5S`, `PT1H`): seconds.
pub fn parse_duration(text: &str) -> Result<f64> {
    let bad = || Error::malformed("AudioHook position", format!("{text:?} is not PT…S"));
    let rest = text.strip_prefix("PT").ok_or_else(bad)?;
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'H' | 'M' | 'S' => {
                let v: f64 = number.parse().map_err(|_| bad())?;
                total += v * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() || !total.is_finite() {
        return Err(bad());
    }
    Ok(total)
}

/// Writes seconds as an ISO 8601 duration (`PT1.52S`).
pub fn format_duration(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("PT{}S", s.trim_end_matches('0'))
    }
}

fn string_param(p: &Map<String, Value>, key: &str) -> String {
    p.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Parses one client text message.
pub fn parse(text: &[u8]) -> Result<ClientEnvelope> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::TooLarge {
            what: "AudioHook message",
            len: text.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    let raw: RawEnvelope = serde_json::from_slice(text)
        .map_err(|e| Error::malformed("AudioHook message", e.to_string()))?;
    if raw.version != PROTOCOL_VERSION {
        return Err(Error::unsupported(
            "AudioHook version",
            format!("{:?} (only \"2\")", raw.version),
        ));
    }
    let position_seconds = raw.position.as_deref().map(parse_duration).transpose()?;
    let p = raw.parameters;
    let message = match raw.kind.as_str() {
        "open" => {
            let open: OpenParameters = serde_json::from_value(Value::Object(p))
                .map_err(|e| Error::malformed("AudioHook open parameters", e.to_string()))?;
            ClientMessage::Open(Box::new(open))
        }
        "ping" => ClientMessage::Ping,
        "close" => ClientMessage::Close {
            reason: string_param(&p, "reason"),
        },
        "paused" => ClientMessage::Paused,
        "resumed" => ClientMessage::Resumed,
        "update" => ClientMessage::Update(p),
        "discarded" => ClientMessage::Discarded,
        "dtmf" => ClientMessage::Dtmf(string_param(&p, "digit")),
        "error" => ClientMessage::Error {
            code: p.get("code").and_then(Value::as_u64).unwrap_or(0),
            message: string_param(&p, "message"),
        },
        other => ClientMessage::Other(other.to_owned()),
    };
    Ok(ClientEnvelope {
        id: raw.id,
        seq: raw.seq,
        serverseq: raw.serverseq,
        position_seconds,
        message,
    })
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connected; the client's `open` not seen yet.
    AwaitingOpen,
    /// `open` seen; the server has not answered it yet.
    Opening,
    Open,
    Paused,
    /// `closed` sent: nothing more is accepted.
    Closed,
}

/// What the server loop has to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Decide, then call [`ServerSession::opened`] or [`ServerSession::disconnect`].
    Open(Box<OpenParameters>),
    /// The customer channel's samples (in the negotiated format).
    Audio(Vec<u8>),
    /// Send this reply (pong, closed, …) as a text frame.
    Reply(String),
    /// The client closed the session: send any last `event`, then [`ServerSession::closed`].
    Closed { reason: String },
    /// The client reported an error.
    ClientError { code: u64, message: String },
    /// Messages with no action (paused, resumed, update, dtmf, unknown types).
    Ignored,
}

/// The server side of one AudioHook session.
#[derive(Debug)]
pub struct ServerSession {
    id: String,
    state: State,
    seq: u64,
    client_seq: u64,
    media: Option<MediaChoice>,
    /// Samples (per channel) of audio received.
    samples: u64,
    /// Audio frames received while paused or before `opened` (dropped).
    pub dropped_frames: u64,
}

impl Default for ServerSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerSession {
    pub fn new() -> Self {
        ServerSession {
            id: String::new(),
            state: State::AwaitingOpen,
            seq: 0,
            client_seq: 0,
            media: None,
            samples: 0,
            dropped_frames: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The media agreed in `opened`.
    pub fn media(&self) -> Option<&MediaChoice> {
        self.media.as_ref()
    }

    /// Seconds of audio received (the server's view of `position`).
    pub fn position_seconds(&self) -> f64 {
        self.media
            .as_ref()
            .map_or(0.0, |m| self.samples as f64 / f64::from(m.rate))
    }

    /// A server message: next `seq`, the last client `seq` seen, the position.
    fn message(&mut self, kind: &str, parameters: Value) -> String {
        self.seq += 1;
        json!({
            "version": PROTOCOL_VERSION,
            "type": kind,
            "seq": self.seq,
            "clientseq": self.client_seq,
            "id": self.id,
            "position": format_duration(self.position_seconds()),
            "parameters": parameters,
        })
        .to_string()
    }

    /// Takes one text frame.
    pub fn on_text(&mut self, text: &[u8]) -> Result<Vec<Input>> {
        let env = parse(text)?;
        if self.state == State::Closed {
            return Err(Error::Protocol(format!(
                "message seq {} after the session closed",
                env.seq
            )));
        }
        if env.seq != self.client_seq + 1 {
            return Err(Error::Protocol(format!(
                "seq {} where {} was expected",
                env.seq,
                self.client_seq + 1
            )));
        }
        if env.serverseq > self.seq {
            return Err(Error::Protocol(format!(
                "serverseq {} but the server has sent {} messages",
                env.serverseq, self.seq
            )));
        }
        if self.state != State::AwaitingOpen && env.id != self.id {
            return Err(Error::Protocol(format!(
                "message for session {:?} on session {:?}",
                env.id, self.id
            )));
        }
        self.client_seq = env.seq;
        match (self.state, env.message) {
            (State::AwaitingOpen, ClientMessage::Open(open)) => {
                self.id = env.id;
                self.state = State::Opening;
                Ok(vec![Input::Open(open)])
            }
            (State::AwaitingOpen, _) => {
                Err(Error::Protocol("the first message must be \"open\"".into()))
            }
            (_, ClientMessage::Open(_)) => Err(Error::Protocol("a second \"open\"".into())),
            (_, ClientMessage::Ping) => Ok(vec![Input::Reply(self.message("pong", json!({})))]),
            (_, ClientMessage::Close { reason }) => {
                self.state = State::Closed;
                Ok(vec![Input::Closed { reason }])
            }
            (State::Open, ClientMessage::Paused) => {
                self.state = State::Paused;
                Ok(vec![Input::Ignored])
            }
            (State::Paused, ClientMessage::Resumed) => {
                self.state = State::Open;
                Ok(vec![Input::Ignored])
            }
            (_, ClientMessage::Error { code, message }) => {
                Ok(vec![Input::ClientError { code, message }])
            }
            _ => Ok(vec![Input::Ignored]),
        }
    }

    /// Takes one binary frame: the customer channel's samples once open.
    pub fn on_binary(&mut self, bytes: &[u8]) -> Result<Input> {
        let media = match (&self.state, &self.media) {
            (State::Open, Some(m)) => m,
            (State::Paused, _) | (State::Opening, _) => {
                self.dropped_frames += 1;
                return Ok(Input::Ignored);
            }
            _ => return Err(Error::Protocol("audio outside an open session".into())),
        };
        let frame = media.frame_bytes();
        if !bytes.len().is_multiple_of(frame) {
            return Err(Error::malformed(
                "AudioHook audio frame",
                format!(
                    "{} bytes is not whole {frame}-byte sample frames",
                    bytes.len()
                ),
            ));
        }
        self.samples += (bytes.len() / frame) as u64;
        if media.channels.len() == 1 {
            return Ok(Input::Audio(bytes.to_vec()));
        }
        let width = media.format.bytes_per_sample();
        let at = media.customer_channel * width;
        let customer = bytes
            .chunks_exact(frame)
            .flat_map(|f| f[at..at + width].iter().copied())
            .collect();
        Ok(Input::Audio(customer))
    }

    /// Accepts the `open` with `media`; returns the `opened` message.
    pub fn opened(&mut self, media: MediaChoice) -> Result<String> {
        if self.state != State::Opening {
            return Err(Error::Protocol("\"opened\" without a pending open".into()));
        }
        let params = json!({"startPaused": false, "media": [media.to_json()]});
        self.media = Some(media);
        self.state = State::Open;
        Ok(self.message("opened", params))
    }

    /// The `closed` reply to the client's `close`; `output_variables` go back to
    /// the Architect flow (empty: none).
    pub fn closed(&mut self, output_variables: Map<String, Value>) -> String {
        let params = if output_variables.is_empty() {
            json!({})
        } else {
            json!({"outputVariables": output_variables})
        };
        self.message("closed", params)
    }

    /// An `event` message carrying `entities` (e.g. voiceprint's decisions).
    pub fn event(&mut self, entities: Vec<Value>) -> String {
        self.message("event", json!({"entities": entities}))
    }

    /// Asks the client to end the session (`reason`: completed, unauthorized, error).
    pub fn disconnect(&mut self, reason: &str, info: &str) -> String {
        self.message("disconnect", json!({"reason": reason, "info": info}))
    }

    /// Asks the client to pause or resume the audio.
    pub fn pause(&mut self) -> String {
        self.message("pause", json!({}))
    }

    pub fn resume(&mut self) -> String {
        self.message("resume", json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "e160e428-53e2-487c-977d-96989bf5c99d";

    fn open(seq: u64, media: Value) -> Vec<u8> {
        json!({"version": "2", "type": "open", "seq": seq, "serverseq": 0, "id": ID, "position": "PT0S",
               "parameters": {"organizationId": "d7934305-0972-4844-938e-9060eef73d05",
                              "conversationId": "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
                              "participant": {"id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0", "ani": "+1-555-555-1234", "aniName": "John Doe", "dnis": "+1-800-555-6789"},
                              "media": media, "language": "en-US",
                              "customConfig": {"CustomerSpeakerId": "cust-7"}, "inputVariables": {"SpeakerId": "cust-8"}}})
            .to_string()
            .into_bytes()
    }

    fn msg(kind: &str, seq: u64, serverseq: u64) -> Vec<u8> {
        json!({"version": "2", "type": kind, "seq": seq, "serverseq": serverseq, "id": ID, "position": "PT1.5S", "parameters": {}})
            .to_string()
            .into_bytes()
    }

    fn stereo_offers() -> Value {
        json!([{"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000},
               {"type": "audio", "format": "L16", "channels": ["internal", "external"], "rate": 8000},
               {"type": "audio", "format": "OPUS", "channels": ["external"], "rate": 48000}])
    }

    #[test]
    fn open_negotiates_media_then_audio_ping_close_follow_the_sequence_rules() {
        let mut s = ServerSession::new();
        let inputs = s.on_text(&open(1, stereo_offers())).unwrap();
        let [Input::Open(o)] = inputs.as_slice() else {
            panic!("{inputs:?}")
        };
        assert_eq!(o.conversation_id, "090eaa2f-72fa-480a-83e0-8667ff89c0ec");
        assert_eq!(o.participant.ani, "+1-555-555-1234");
        assert_eq!(o.custom_config["CustomerSpeakerId"], "cust-7");
        let choice = choose_media(&o.media).unwrap();
        assert_eq!(choice.format, MediaFormat::Pcmu);
        assert_eq!(choice.customer_channel, 0);
        let opened: Value = serde_json::from_str(&s.opened(choice).unwrap()).unwrap();
        assert_eq!(opened["type"], "opened");
        assert_eq!(
            (opened["seq"].as_u64(), opened["clientseq"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(opened["id"], ID);
        assert_eq!(opened["parameters"]["media"][0]["format"], "PCMU");
        // Stereo frames: external samples (0x11) interleaved with internal (0x22).
        let audio = s.on_binary(&[0x11, 0x22, 0x12, 0x22, 0x13, 0x22]).unwrap();
        assert_eq!(audio, Input::Audio(vec![0x11, 0x12, 0x13]));
        assert!(s.on_binary(&[1, 2, 3]).is_err());
        let replies = s.on_text(&msg("ping", 2, 1)).unwrap();
        let [Input::Reply(pong)] = replies.as_slice() else {
            panic!("{replies:?}")
        };
        let pong: Value = serde_json::from_str(pong).unwrap();
        assert_eq!(
            (
                pong["type"].as_str(),
                pong["seq"].as_u64(),
                pong["clientseq"].as_u64()
            ),
            (Some("pong"), Some(2), Some(2))
        );
        assert_eq!(pong["position"], "PT0S"); // 3 samples: under a millisecond
                                              // Pause drops audio until resumed.
        s.on_text(&msg("paused", 3, 2)).unwrap();
        assert_eq!(s.on_binary(&[0, 0]).unwrap(), Input::Ignored);
        assert_eq!(s.dropped_frames, 1);
        s.on_text(&msg("resumed", 4, 2)).unwrap();
        let event: Value = serde_json::from_str(&s.event(vec![json!({"type": "x"})])).unwrap();
        assert_eq!(event["seq"], 3);
        let closed = s.on_text(&msg("close", 5, 3)).unwrap();
        assert!(matches!(&closed[..], [Input::Closed { reason }] if reason.is_empty()));
        assert_eq!(s.state(), State::Closed);
        let mut vars = Map::new();
        vars.insert("Decision".into(), json!("ACCEPT"));
        let reply: Value = serde_json::from_str(&s.closed(vars)).unwrap();
        assert_eq!(
            (reply["type"].as_str(), reply["seq"].as_u64()),
            (Some("closed"), Some(4))
        );
        assert_eq!(reply["parameters"]["outputVariables"]["Decision"], "ACCEPT");
        assert!(s.on_text(&msg("ping", 6, 4)).is_err());
    }

    #[test]
    fn l16_internal_first_offer_picks_the_external_channel() {
        let offers: Vec<MediaOffer> = serde_json::from_value(json!([
            {"type": "audio", "format": "L16", "channels": ["internal", "external"], "rate": 8000}
        ]))
        .unwrap();
        let c = choose_media(&offers).unwrap();
        assert_eq!(
            (c.format, c.customer_channel, c.frame_bytes()),
            (MediaFormat::L16, 1, 4)
        );
        let mut s = ServerSession::new();
        s.on_text(&open(1, json!(offers.iter().map(|o| json!({"type": o.kind, "format": o.format, "channels": o.channels, "rate": o.rate})).collect::<Vec<_>>()))).unwrap();
        s.opened(c).unwrap();
        // internal sample 0x0101, external 0x0302 (little-endian).
        assert_eq!(
            s.on_binary(&[1, 1, 2, 3]).unwrap(),
            Input::Audio(vec![2, 3])
        );
        // Mono external beats stereo; no external channel or a wrong rate is refused.
        let mono: Vec<MediaOffer> = serde_json::from_value(json!([
            {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000},
            {"type": "audio", "format": "L16", "channels": ["external"], "rate": 8000}
        ]))
        .unwrap();
        assert_eq!(choose_media(&mono).unwrap().channels, vec!["external"]);
        let none: Vec<MediaOffer> = serde_json::from_value(json!([
            {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000},
            {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 16000}
        ]))
        .unwrap();
        assert!(matches!(
            choose_media(&none),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn bad_messages_and_sequence_violations_are_typed_errors() {
        assert!(matches!(parse(b"{"), Err(Error::Malformed { .. })));
        assert!(matches!(parse(b"[]"), Err(Error::Malformed { .. })));
        let v1 = String::from_utf8(msg("ping", 1, 0))
            .unwrap()
            .replace("\"2\"", "\"1\"");
        assert!(matches!(
            parse(v1.as_bytes()),
            Err(Error::Unsupported { .. })
        ));
        let pos = String::from_utf8(msg("ping", 1, 0))
            .unwrap()
            .replace("PT1.5S", "1.5");
        assert!(matches!(
            parse(pos.as_bytes()),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            parse(&vec![b' '; MAX_TEXT_BYTES + 1]),
            Err(Error::TooLarge { .. })
        ));
        let no_conv = json!({"version": "2", "type": "open", "seq": 1, "id": ID, "parameters": {"media": []}}).to_string();
        assert!(matches!(
            parse(no_conv.as_bytes()),
            Err(Error::Malformed { .. })
        ));

        // Audio or ping before open; open twice; skipped seq; serverseq from the future.
        let mut s = ServerSession::new();
        assert!(matches!(s.on_binary(&[0; 4]), Err(Error::Protocol(_))));
        assert!(matches!(
            s.on_text(&msg("ping", 1, 0)),
            Err(Error::Protocol(_))
        ));
        let mut s = ServerSession::new();
        s.on_text(&open(1, stereo_offers())).unwrap();
        assert!(matches!(
            s.on_text(&open(2, stereo_offers())),
            Err(Error::Protocol(_))
        ));
        let mut s = ServerSession::new();
        s.on_text(&open(1, stereo_offers())).unwrap();
        assert!(matches!(
            s.on_text(&msg("ping", 3, 0)),
            Err(Error::Protocol(_))
        ));
        let mut s = ServerSession::new();
        s.on_text(&open(1, stereo_offers())).unwrap();
        assert!(matches!(
            s.on_text(&msg("ping", 2, 5)),
            Err(Error::Protocol(_))
        ));
        let other = String::from_utf8(msg("ping", 2, 0))
            .unwrap()
            .replace(ID, "another");
        assert!(matches!(
            s.on_text(other.as_bytes()),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("PT0S").unwrap(), 0.0);
        assert_eq!(parse_duration("PT1.5S").unwrap(), 1.5);
        assert_eq!(parse_duration("PT1H2M3.25S").unwrap(), 3723.25);
        for bad in ["", "PT", "P1D", "PT1.5", "PTS", "PT1..2S", "PTxS"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(0.0), "PT0S");
        assert_eq!(format_duration(1.52), "PT1.52S");
        assert_eq!(format_duration(12.0), "PT12S");
    }
}
