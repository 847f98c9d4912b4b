//! The recording server's side of SIPREC dialogs, sans-IO: a request in, the
//! responses to send and what happened to the call out.
//!
//! INVITE (with `Require: siprec` or an rs-metadata part) → 100 Trying, then 200
//! OK with the SDP answer: the caller's stream accepted `recvonly` on a local
//! RTP port the caller of [`Recorder::handle`] allocates, every other stream
//! rejected (port 0: voiceprint only needs the customer). Which stream is the
//! caller's: the one the first metadata participant sends (recording clients list
//! the caller first), else the first audio m-line. re-INVITE → 200 OK on the same
//! port; retransmitted INVITE → the same answer again; ACK → nothing; BYE → 200
//! OK and the call ends; OPTIONS → 200 OK; CANCEL → 200 OK.

use std::collections::HashMap;

use super::metadata::{self, Recording};
use super::sdp::{self, Sdp};
use super::{media_type, uri_user, Message};
use crate::{Error, Result};

/// How the customer's identity (CustomerSpeakerId) is taken from a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRule {
    /// None: the session is started beforehand (StartSession) or has no speaker.
    None,
    /// The user part of the caller participant's `aor` in the metadata.
    CallerAorUser,
    /// A header of the INVITE (its URI user part, or the whole value).
    Header(String),
}

impl CustomerRule {
    /// `none`, `caller_aor_user` or `header:<Name>`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "none" => Ok(CustomerRule::None),
            "caller_aor_user" => Ok(CustomerRule::CallerAorUser),
            other => match other.strip_prefix("header:") {
                Some(h) if !h.is_empty() => Ok(CustomerRule::Header(h.to_owned())),
                _ => Err(Error::unsupported(
                    "customer rule",
                    format!("{other:?} (none, caller_aor_user or header:<Name>)"),
                )),
            },
        }
    }
}

/// Settings of the recorder.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Address advertised in SDP (c=) and Contact.
    pub local_ip: String,
    /// Port of the SIP listener (Contact).
    pub sip_port: u16,
    pub customer: CustomerRule,
    /// Calls recorded at once; more are answered 486 Busy Here.
    pub max_calls: usize,
}

/// What a call's media and identity are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallMedia {
    pub call_id: String,
    /// Local RTP port of the caller's stream.
    pub rtp_port: u16,
    /// 0 (PCMU) or 8 (PCMA).
    pub payload_type: u8,
    /// The caller stream's SDP label, if it has one.
    pub label: Option<String>,
    pub customer_id: Option<String>,
    pub metadata: Option<Recording>,
}

/// What happened to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Started(CallMedia),
    /// A re-INVITE changed the media description.
    Updated(CallMedia),
    Ended {
        call_id: String,
    },
}

/// The result of one request.
#[derive(Debug, Default)]
pub struct Outcome {
    pub replies: Vec<Message>,
    pub event: Option<CallEvent>,
}

struct Call {
    local_tag: String,
    rtp_port: u16,
    invite_cseq: u32,
    answer: Message,
    sdp_version: u64,
}

/// The recording server's dialogs.
pub struct Recorder {
    config: RecorderConfig,
    calls: HashMap<String, Call>,
    counter: u64,
}

/// A response to `req` (Via, From, To, Call-ID and CSeq copied).
pub fn reply_to(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
    let mut m = Message::response(code, reason);
    for (n, v) in &req.headers {
        if n.eq_ignore_ascii_case("Via")
            || n.eq_ignore_ascii_case("From")
            || n.eq_ignore_ascii_case("Call-ID")
            || n.eq_ignore_ascii_case("CSeq")
        {
            m.headers.push((n.clone(), v.clone()));
        } else if n.eq_ignore_ascii_case("To") {
            let value = match to_tag {
                Some(tag) if super::param(v, "tag").is_none() => format!("{v};tag={tag}"),
                _ => v.clone(),
            };
            m.headers.push((n.clone(), value));
        }
    }
    m.with("Server", "voiceprint")
}

/// A SessionName for a Call-ID: `[A-Za-z0-9_-]`, at most 36 characters, starting
/// alphanumeric. Long ids keep a prefix plus a hash of the whole id.
pub fn session_name(call_id: &str) -> String {
    let clean: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = if clean.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        clean
    } else {
        format!("c{clean}")
    };
    if clean.len() <= 36 {
        return clean;
    }
    // FNV-1a: stable across runs and builds (the name must not change between
    // a re-INVITE and a restart).
    let hash = call_id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{}-{:08x}", &clean[..27], hash as u32)
}

impl Recorder {
    pub fn new(config: RecorderConfig) -> Self {
        Recorder {
            config,
            calls: HashMap::new(),
            counter: 0,
        }
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Forgets a call (RTP timeout): a later BYE gets 481.
    pub fn forget(&mut self, call_id: &str) -> bool {
        self.calls.remove(call_id).is_some()
    }

    /// Handles one message. `allocate` gives a local RTP port for a new call's
    /// caller stream. Responses (SIP messages that are not requests) are ignored.
    /// Err only when no response can be formed (no Call-ID or CSeq).
    pub fn handle(
        &mut self,
        msg: &Message,
        allocate: &mut dyn FnMut(&str) -> Result<u16>,
    ) -> Result<Outcome> {
        let Some(method) = msg.method() else {
            return Ok(Outcome::default());
        };
        let call_id = msg.call_id()?.to_owned();
        let (cseq, _) = msg.cseq()?;
        let single = |m: Message| Outcome {
            replies: vec![m],
            event: None,
        };
        match method {
            "INVITE" => self.invite(msg, call_id, cseq, allocate),
            "ACK" => Ok(Outcome::default()),
            "BYE" => match self.calls.remove(&call_id) {
                Some(call) => Ok(Outcome {
                    replies: vec![reply_to(msg, 200, "OK", Some(&call.local_tag))],
                    event: Some(CallEvent::Ended { call_id }),
                }),
                None => Ok(single(reply_to(
                    msg,
                    481,
                    "Call/Transaction Does Not Exist",
                    None,
                ))),
            },
            "OPTIONS" => Ok(single(
                reply_to(msg, 200, "OK", Some("options"))
                    .with("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")
                    .with("Supported", "siprec")
                    .with(
                        "Accept",
                        "application/sdp, application/rs-metadata+xml, multipart/mixed",
                    ),
            )),
            "CANCEL" => Ok(single(reply_to(msg, 200, "OK", None))),
            _ => Ok(single(
                reply_to(msg, 501, "Not Implemented", None)
                    .with("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),
            )),
        }
    }

    fn invite(
        &mut self,
        msg: &Message,
        call_id: String,
        cseq: u32,
        allocate: &mut dyn FnMut(&str) -> Result<u16>,
    ) -> Result<Outcome> {
        let refuse = |code: u16, reason: &str| Outcome {
            replies: vec![reply_to(msg, code, reason, Some("refused"))],
            event: None,
        };
        if let Some(call) = self.calls.get(&call_id) {
            if cseq == call.invite_cseq {
                // A retransmission: the same answer again.
                return Ok(Outcome {
                    replies: vec![call.answer.clone()],
                    event: None,
                });
            }
            if cseq < call.invite_cseq {
                return Ok(refuse(500, "Server Internal Error (CSeq out of order)"));
            }
        }
        let unsupported: Vec<&str> = msg
            .header_values("Require")
            .into_iter()
            .filter(|t| !t.eq_ignore_ascii_case("siprec"))
            .collect();
        if !unsupported.is_empty() {
            let mut r = refuse(420, "Bad Extension");
            r.replies[0]
                .headers
                .push(("Unsupported".into(), unsupported.join(", ")));
            return Ok(r);
        }
        let parts = match msg.body_parts() {
            Ok(p) => p,
            Err(_) => return Ok(refuse(400, "Bad Request (body)")),
        };
        let sdp_part = parts.iter().find(|p| p.content_type == "application/sdp");
        let metadata_part = parts
            .iter()
            .find(|p| p.content_type == "application/rs-metadata+xml");
        let siprec = msg
            .header_values("Require")
            .iter()
            .any(|t| t.eq_ignore_ascii_case("siprec"));
        if !siprec && metadata_part.is_none() {
            return Ok(refuse(403, "Forbidden (not a SIPREC recording session)"));
        }
        let Some(sdp_part) = sdp_part else {
            return Ok(refuse(488, "Not Acceptable Here (no SDP)"));
        };
        let Ok(offer) = sdp::parse(&sdp_part.body) else {
            return Ok(refuse(488, "Not Acceptable Here (bad SDP)"));
        };
        let metadata = match metadata_part.map(|p| metadata::parse(&p.body)).transpose() {
            Ok(m) => m,
            Err(_) => return Ok(refuse(400, "Bad Request (rs-metadata)")),
        };
        let Some(index) = caller_stream(&offer, metadata.as_ref()) else {
            return Ok(refuse(488, "Not Acceptable Here (no G.711 audio stream)"));
        };
        let media = &offer.media[index];
        let payload_type = sdp::g711_payload_type(media).unwrap_or(0);
        let existing = self
            .calls
            .get(&call_id)
            .map(|c| (c.rtp_port, c.local_tag.clone(), c.sdp_version));
        let is_new = existing.is_none();
        if is_new && self.calls.len() >= self.config.max_calls {
            return Ok(refuse(486, "Busy Here"));
        }
        let (rtp_port, local_tag, sdp_version) = match existing {
            Some((port, tag, v)) => (port, tag, v + 1),
            None => {
                self.counter += 1;
                let port = match allocate(&call_id) {
                    Ok(p) => p,
                    Err(_) => return Ok(refuse(503, "Service Unavailable (no RTP port)")),
                };
                (port, format!("vp{}", self.counter), self.counter)
            }
        };
        let mut ports = vec![0u16; offer.media.len()];
        ports[index] = rtp_port;
        let answer_sdp = sdp::answer(&offer, &self.config.local_ip, &ports, sdp_version);
        let contact = format!(
            "<sip:voiceprint@{}:{}>",
            self.config.local_ip, self.config.sip_port
        );
        let mut answer = reply_to(msg, 200, "OK", Some(&local_tag))
            .with("Contact", contact)
            .with("Supported", "siprec")
            .with("Content-Type", "application/sdp");
        answer.body = answer_sdp.into_bytes();
        let customer_id = self.customer(msg, metadata.as_ref(), media.label.as_deref());
        let call_media = CallMedia {
            call_id: call_id.clone(),
            rtp_port,
            payload_type,
            label: media.label.clone(),
            customer_id,
            metadata,
        };
        self.calls.insert(
            call_id,
            Call {
                local_tag,
                rtp_port,
                invite_cseq: cseq,
                answer: answer.clone(),
                sdp_version,
            },
        );
        let trying = reply_to(msg, 100, "Trying", None);
        Ok(Outcome {
            replies: vec![trying, answer],
            event: Some(if is_new {
                CallEvent::Started(call_media)
            } else {
                CallEvent::Updated(call_media)
            }),
        })
    }

    fn customer(
        &self,
        msg: &Message,
        metadata: Option<&Recording>,
        label: Option<&str>,
    ) -> Option<String> {
        match &self.config.customer {
            CustomerRule::None => None,
            CustomerRule::Header(name) => {
                let v = msg.header(name)?;
                uri_user(v).or_else(|| Some(v.trim().to_owned()).filter(|s| !s.is_empty()))
            }
            CustomerRule::CallerAorUser => {
                let m = metadata?;
                let caller = label
                    .and_then(|l| m.sender_of_label(l))
                    .or_else(|| m.participants.first())?;
                caller.aors.iter().find_map(|a| uri_user(a))
            }
        }
    }
}

/// Index of the caller's m-line in the offer.
fn caller_stream(offer: &Sdp, metadata: Option<&Recording>) -> Option<usize> {
    let by_metadata = metadata.and_then(|m| {
        let label = m.label_sent_by(m.participants.first()?)?;
        offer
            .media
            .iter()
            .position(|x| x.label.as_deref() == Some(label) && sdp::acceptable(x))
    });
    by_metadata.or_else(|| offer.media.iter().position(sdp::acceptable))
}

/// Whether a content type is SIPREC metadata (for callers building bodies).
pub fn is_metadata(content_type: &str) -> bool {
    media_type(content_type) == "application/rs-metadata+xml"
}

#[cfg(test)]
mod tests {
    use super::super::{multipart, parse, StartLine};
    use super::*;

    const SDP: &str = "v=0\r\no=SRC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\nm=audio 6000 RTP/AVP 8 0\r\na=label:1\r\na=sendonly\r\n";

    fn invite(call_id: &str, cseq: u32, require: &str, with_metadata: bool) -> Message {
        let md = super::super::metadata::tests_metadata();
        let mut parts: Vec<(&str, &[u8])> = vec![("application/sdp", SDP.as_bytes())];
        if with_metadata {
            parts.push(("application/rs-metadata+xml", md.as_bytes()));
        }
        let (ct, body) = multipart("foobar", &parts);
        let mut m = Message::request("INVITE", "sip:srs@127.0.0.1")
            .with("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1")
            .with("From", "<sip:src@127.0.0.1>;tag=src1")
            .with("To", "<sip:srs@127.0.0.1>")
            .with("Call-ID", call_id)
            .with("CSeq", format!("{cseq} INVITE"))
            .with("X-Customer", "<sip:cust-9@example.com>")
            .with("Content-Type", ct);
        if !require.is_empty() {
            m = m.with("Require", require);
        }
        m.body = body;
        parse(&m.to_bytes()).unwrap()
    }

    fn request(method: &str, call_id: &str, cseq: u32) -> Message {
        Message::request(method, "sip:srs@127.0.0.1")
            .with("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-2")
            .with("From", "<sip:src@127.0.0.1>;tag=src1")
            .with("To", "<sip:srs@127.0.0.1>;tag=vp1")
            .with("Call-ID", call_id)
            .with("CSeq", format!("{cseq} {method}"))
    }

    fn code(m: &Message) -> u16 {
        match m.start {
            StartLine::Response { code, .. } => code,
            _ => 0,
        }
    }

    fn recorder(rule: CustomerRule, max_calls: usize) -> Recorder {
        Recorder::new(RecorderConfig {
            local_ip: "127.0.0.1".into(),
            sip_port: 5060,
            customer: rule,
            max_calls,
        })
    }

    #[test]
    fn invite_reinvite_retransmission_bye_follow_the_dialog() {
        let mut r = recorder(CustomerRule::CallerAorUser, 4);
        let mut next_port = 40000u16;
        let mut alloc = |_: &str| {
            next_port += 2;
            Ok(next_port)
        };
        let out = r
            .handle(&invite("c1@h", 1, "siprec", true), &mut alloc)
            .unwrap();
        assert_eq!(
            out.replies.iter().map(code).collect::<Vec<_>>(),
            vec![100, 200]
        );
        let ok = &out.replies[1];
        assert!(ok.header("To").unwrap().contains(";tag=vp1"));
        assert_eq!(ok.header("Call-ID"), Some("c1@h"));
        let answer = sdp::parse(&ok.body).unwrap();
        // Metadata says the first participant (the caller) sends label 1: the second m-line.
        assert_eq!((answer.media[0].port, answer.media[1].port), (0, 40002));
        assert_eq!(answer.media[1].formats, vec!["8"]);
        let Some(CallEvent::Started(media)) = out.event else {
            panic!()
        };
        assert_eq!(
            (media.rtp_port, media.payload_type, media.label.as_deref()),
            (40002, 8, Some("1"))
        );
        assert_eq!(media.customer_id.as_deref(), Some("customer-a"));

        // Retransmission: same answer, no new port, no event.
        let again = r
            .handle(&invite("c1@h", 1, "siprec", true), &mut alloc)
            .unwrap();
        assert_eq!(again.replies, vec![ok.clone()]);
        assert!(again.event.is_none());
        // re-INVITE: same port, new SDP version, Updated.
        let re = r
            .handle(&invite("c1@h", 2, "siprec", true), &mut alloc)
            .unwrap();
        assert!(matches!(re.event, Some(CallEvent::Updated(ref m)) if m.rtp_port == 40002));
        assert!(r
            .handle(&request("ACK", "c1@h", 2), &mut alloc)
            .unwrap()
            .replies
            .is_empty());
        let opts = r.handle(&request("OPTIONS", "x", 1), &mut alloc).unwrap();
        assert_eq!(code(&opts.replies[0]), 200);
        let bye = r.handle(&request("BYE", "c1@h", 3), &mut alloc).unwrap();
        assert_eq!(code(&bye.replies[0]), 200);
        assert_eq!(
            bye.event,
            Some(CallEvent::Ended {
                call_id: "c1@h".into()
            })
        );
        assert_eq!(r.active_calls(), 0);
        let bye = r.handle(&request("BYE", "c1@h", 4), &mut alloc).unwrap();
        assert_eq!(code(&bye.replies[0]), 481);
        assert_eq!(
            code(
                &r.handle(&request("REGISTER", "y", 1), &mut alloc)
                    .unwrap()
                    .replies[0]
            ),
            501
        );
    }

    #[test]
    fn refusals_and_customer_rules() {
        let mut r = recorder(CustomerRule::Header("X-Customer".into()), 1);
        let mut alloc = |_: &str| Ok(41000u16);
        let first = |o: Outcome| code(o.replies.last().unwrap());
        assert_eq!(
            first(
                r.handle(&invite("a", 1, "siprec, 100rel", true), &mut alloc)
                    .unwrap()
            ),
            420
        );
        assert_eq!(
            first(r.handle(&invite("a", 1, "", false), &mut alloc).unwrap()),
            403
        );
        // Without metadata the first G.711 m-line is the caller's; the header names the customer.
        let out = r
            .handle(&invite("a", 1, "siprec", false), &mut alloc)
            .unwrap();
        let Some(CallEvent::Started(m)) = out.event else {
            panic!()
        };
        assert_eq!(
            (m.label.as_deref(), m.customer_id.as_deref()),
            (Some("2"), Some("cust-9"))
        );
        assert_eq!(
            first(
                r.handle(&invite("b", 1, "siprec", true), &mut alloc)
                    .unwrap()
            ),
            486
        );
        let mut bad = invite("c", 1, "siprec", true);
        bad.body = b"garbage".to_vec();
        let mut r2 = recorder(CustomerRule::None, 4);
        assert_eq!(first(r2.handle(&bad, &mut alloc).unwrap()), 400);
        let mut no_port = |_: &str| Err(Error::Protocol("none".into()));
        assert_eq!(
            first(
                r2.handle(&invite("d", 1, "siprec", true), &mut no_port)
                    .unwrap()
            ),
            503
        );
        assert!(r2
            .handle(&Message::request("INVITE", "sip:x"), &mut alloc)
            .is_err());
        assert!(CustomerRule::parse("header:").is_err());
        assert_eq!(
            CustomerRule::parse("header:X-Id").unwrap(),
            CustomerRule::Header("X-Id".into())
        );
    }

    #[test]
    fn session_names_fit_the_voice_id_model() {
        assert_eq!(session_name("1-4242@127.0.0.1"), "1-4242-127-0-0-1");
        let long = session_name("a84b4c76e66710@pc33.atlanta.example.com;very-long-suffix");
        assert_eq!(long.len(), 36);
        assert_ne!(
            long,
            session_name("a84b4c76e66710@pc33.atlanta.example.com;very-long-suffiy")
        );
        assert!(session_name("@x").starts_with('c'));
    }
}
