//! SDP (RFC 4566) as SIPREC uses it: one `m=audio` line per recorded stream,
//! each with `a=label` (the key rs-metadata refers to) and a direction; and the
//! recording server's answer: every audio stream accepted as `recvonly` on a
//! local RTP port with the first offered G.711 payload type (0 PCMU, 8 PCMA).

use std::fmt::Write as _;

use crate::{Error, Result};

/// Largest SDP accepted.
pub const MAX_SDP_BYTES: usize = 16 * 1024;
/// Most media lines accepted (SIPREC streams: typically 2).
pub const MAX_MEDIA: usize = 8;

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    pub label: Option<String>,
    /// sendonly / recvonly / sendrecv / inactive (sendrecv when absent).
    pub direction: String,
    /// The media's `c=` address, else the session's.
    pub connection: Option<String>,
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    pub origin: String,
    pub connection: Option<String>,
    pub media: Vec<Media>,
}

fn connection_address(value: &str) -> Result<String> {
    // c=IN IP4 192.0.2.1
    let parts: Vec<&str> = value.split_whitespace().collect();
    match parts.as_slice() {
        ["IN", "IP4" | "IP6", addr] => Ok(addr.split('/').next().unwrap_or(addr).to_owned()),
        _ => Err(Error::malformed("SDP c= line", value.to_owned())),
    }
}

/// Parses an SDP body.
pub fn parse(bytes: &[u8]) -> Result<Sdp> {
    if bytes.len() > MAX_SDP_BYTES {
        return Err(Error::TooLarge {
            what: "SDP",
            len: bytes.len(),
            max: MAX_SDP_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Error::malformed("SDP", "not UTF-8"))?;
    let mut sdp = Sdp {
        origin: String::new(),
        connection: None,
        media: Vec::new(),
    };
    let mut saw_version = false;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .filter(|(k, _)| k.len() == 1)
            .ok_or_else(|| Error::malformed("SDP line", line.to_owned()))?;
        match (key, sdp.media.last_mut()) {
            ("v", _) => {
                if value != "0" {
                    return Err(Error::unsupported("SDP version", value.to_owned()));
                }
                saw_version = true;
            }
            ("o", _) => sdp.origin = value.to_owned(),
            ("c", None) => sdp.connection = Some(connection_address(value)?),
            ("c", Some(m)) => m.connection = Some(connection_address(value)?),
            ("m", _) => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                let [kind, port, proto, formats @ ..] = parts.as_slice() else {
                    return Err(Error::malformed("SDP m= line", value.to_owned()));
                };
                let port = port
                    .split('/')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| Error::malformed("SDP m= port", value.to_owned()))?;
                if sdp.media.len() == MAX_MEDIA {
                    return Err(Error::TooLarge {
                        what: "SDP media list",
                        len: MAX_MEDIA + 1,
                        max: MAX_MEDIA,
                    });
                }
                sdp.media.push(Media {
                    kind: (*kind).to_owned(),
                    port,
                    proto: (*proto).to_owned(),
                    formats: formats.iter().map(|f| (*f).to_owned()).collect(),
                    label: None,
                    direction: "sendrecv".into(),
                    connection: None,
                });
            }
            ("a", Some(m)) => {
                let (name, v) = value.split_once(':').unwrap_or((value, ""));
                match name {
                    "label" => m.label = Some(v.trim().to_owned()),
                    "sendonly" | "recvonly" | "sendrecv" | "inactive" => {
                        m.direction = name.to_owned()
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err(Error::malformed("SDP", "no v=0 line"));
    }
    for m in &mut sdp.media {
        if m.connection.is_none() {
            m.connection.clone_from(&sdp.connection);
        }
    }
    Ok(sdp)
}

/// The payload type the answer picks for `m`: the first offered of 0 / 8.
pub fn g711_payload_type(m: &Media) -> Option<u8> {
    m.formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|pt| *pt == 0 || *pt == 8)
}

/// Whether the answer accepts this m-line.
pub fn acceptable(m: &Media) -> bool {
    m.kind == "audio"
        && m.port != 0
        && m.proto.starts_with("RTP/AVP")
        && g711_payload_type(m).is_some()
}

/// The answer: for each offered m-line in order, `local_ports[i]` (0 rejects it),
/// recvonly, the chosen G.711 payload type, the same label.
pub fn answer(offer: &Sdp, local_ip: &str, local_ports: &[u16], session_id: u64) -> String {
    let ip_kind = if local_ip.contains(':') { "IP6" } else { "IP4" };
    let mut out = String::new();
    let _ = write!(
        out,
        "v=0\r\no=voiceprint {session_id} {session_id} IN {ip_kind} {local_ip}\r\ns=voiceprint recording\r\nc=IN {ip_kind} {local_ip}\r\nt=0 0\r\n"
    );
    for (i, m) in offer.media.iter().enumerate() {
        let port = local_ports.get(i).copied().unwrap_or(0);
        match g711_payload_type(m).filter(|_| port != 0 && acceptable(m)) {
            Some(pt) => {
                let name = if pt == 0 { "PCMU" } else { "PCMA" };
                let _ = write!(
                    out,
                    "m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\n"
                );
                if let Some(l) = &m.label {
                    let _ = write!(out, "a=label:{l}\r\n");
                }
                out.push_str("a=recvonly\r\n");
            }
            None => {
                let fmt = m.formats.first().map_or("0", String::as_str);
                let _ = write!(out, "m={} 0 {} {fmt}\r\n", m.kind, m.proto);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=SRC 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=label:caller\r\na=sendonly\r\n\
m=audio 6002 RTP/AVP 0\r\nc=IN IP4 192.0.2.11\r\na=label:agent\r\na=sendonly\r\n\
m=video 6004 RTP/AVP 96\r\n";

    #[test]
    fn siprec_offer_parses_and_the_answer_is_recvonly_g711() {
        let sdp = parse(OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.media.len(), 3);
        let caller = &sdp.media[0];
        assert_eq!(caller.label.as_deref(), Some("caller"));
        assert_eq!(caller.direction, "sendonly");
        assert_eq!(caller.connection.as_deref(), Some("192.0.2.10"));
        assert_eq!(g711_payload_type(caller), Some(8));
        assert_eq!(sdp.media[1].connection.as_deref(), Some("192.0.2.11"));
        assert!(!acceptable(&sdp.media[2]));
        let answer = answer(&sdp, "127.0.0.1", &[40000, 40002, 40004], 7);
        let back = parse(answer.as_bytes()).unwrap();
        assert_eq!(back.media[0].port, 40000);
        assert_eq!(back.media[0].formats, vec!["8"]);
        assert_eq!(back.media[0].direction, "recvonly");
        assert_eq!(back.media[0].label.as_deref(), Some("caller"));
        assert_eq!(back.media[1].formats, vec!["0"]);
        assert_eq!(back.media[2].port, 0, "video rejected");
        assert_eq!(back.connection.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn malformed_sdp_is_a_typed_error() {
        for bad in [
            "",
            "v=1\r\n",
            "v=0\r\nm=audio\r\n",
            "v=0\r\nm=audio x RTP/AVP 0\r\n",
            "v=0\r\nc=IN IP4\r\n",
            "v=0\r\nnot a line\r\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let many = "v=0\r\n".to_owned() + &"m=audio 1 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 1);
        assert!(matches!(
            parse(many.as_bytes()),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            parse(&[b'v'; MAX_SDP_BYTES + 1]),
            Err(Error::TooLarge { .. })
        ));
        assert!(parse(b"v=0\r\n\xff=1").is_err());
    }
}
