//! SIPREC recording metadata (RFC 7865, `application/rs-metadata+xml`): the
//! recorded session, its participants (each with `nameID aor="sip:…"`), the
//! streams (each with the SDP `label` it travels under), and which participant
//! sends which stream (`participantstreamassoc`, or `send` inside `participant`
//! as some recording clients write it).

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::{Error, Result};

/// Largest metadata document accepted.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
const MAX_DEPTH: usize = 16;
const MAX_ITEMS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Participant {
    pub id: String,
    /// `nameID aor` values (SIP or tel URIs).
    pub aors: Vec<String>,
    /// Display names.
    pub names: Vec<String>,
    /// Stream ids this participant sends.
    pub sends: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    pub id: String,
    pub session_id: String,
    /// The SDP `a=label` of the stream's m-line.
    pub label: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recording {
    /// `session_id` attributes of the recorded sessions.
    pub session_ids: Vec<String>,
    pub participants: Vec<Participant>,
    pub streams: Vec<Stream>,
}

impl Recording {
    /// The label of the first stream `participant` sends.
    pub fn label_sent_by(&self, participant: &Participant) -> Option<&str> {
        participant.sends.iter().find_map(|sid| {
            self.streams
                .iter()
                .find(|s| &s.id == sid)
                .map(|s| s.label.as_str())
        })
    }

    /// The participant who sends the stream with `label`.
    pub fn sender_of_label(&self, label: &str) -> Option<&Participant> {
        let stream = self.streams.iter().find(|s| s.label == label)?;
        self.participants
            .iter()
            .find(|p| p.sends.iter().any(|s| s == &stream.id))
    }
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Result<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(|err| Error::malformed("rs-metadata", err.to_string()))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .unescape_value()
                .map_err(|err| Error::malformed("rs-metadata", err.to_string()))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn push_limited<T>(v: &mut Vec<T>, item: T) -> Result<()> {
    if v.len() >= MAX_ITEMS {
        return Err(Error::TooLarge {
            what: "rs-metadata element list",
            len: v.len() + 1,
            max: MAX_ITEMS,
        });
    }
    v.push(item);
    Ok(())
}

/// Parses an rs-metadata document.
pub fn parse(bytes: &[u8]) -> Result<Recording> {
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(Error::TooLarge {
            what: "rs-metadata",
            len: bytes.len(),
            max: MAX_METADATA_BYTES,
        });
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::malformed("rs-metadata", "not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    // Not trim_text: it would cut the spaces around entity references; values
    // are trimmed whole when their element ends.
    let mut rec = Recording::default();
    // Element path (local names) and the text of the innermost element.
    let mut path: Vec<String> = Vec::new();
    let mut text_buf = String::new();
    // participantstreamassoc: whose sends follow.
    let mut assoc_participant: Option<String> = None;
    let mut saw_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Error::malformed("rs-metadata", e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "recording" {
                        return Err(Error::malformed(
                            "rs-metadata",
                            format!("root element <{name}>, not <recording>"),
                        ));
                    }
                    saw_root = true;
                }
                match name.as_str() {
                    "session" if path.len() == 1 => {
                        if let Some(id) = attribute(e, b"session_id")? {
                            push_limited(&mut rec.session_ids, id)?;
                        }
                    }
                    "participant" if path.len() == 1 => push_limited(
                        &mut rec.participants,
                        Participant {
                            id: attribute(e, b"participant_id")?.unwrap_or_default(),
                            ..Default::default()
                        },
                    )?,
                    "nameID" => {
                        if let (Some(p), Some(aor)) =
                            (rec.participants.last_mut(), attribute(e, b"aor")?)
                        {
                            push_limited(&mut p.aors, aor)?;
                        }
                    }
                    "stream" if path.len() == 1 => push_limited(
                        &mut rec.streams,
                        Stream {
                            id: attribute(e, b"stream_id")?.unwrap_or_default(),
                            session_id: attribute(e, b"session_id")?.unwrap_or_default(),
                            label: String::new(),
                        },
                    )?,
                    "participantstreamassoc" => {
                        assoc_participant = attribute(e, b"participant_id")?;
                    }
                    _ => {}
                }
                if !empty {
                    path.push(name);
                    if path.len() > MAX_DEPTH {
                        return Err(Error::TooLarge {
                            what: "rs-metadata nesting",
                            len: path.len(),
                            max: MAX_DEPTH,
                        });
                    }
                    text_buf.clear();
                }
            }
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| Error::malformed("rs-metadata", e.to_string()))?;
                text_buf.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match r.as_ref() {
                        b"amp" => Some('&'),
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"quot" => Some('"'),
                        b"apos" => Some('\''),
                        _ => None,
                    },
                };
                let c =
                    c.ok_or_else(|| Error::malformed("rs-metadata", "unknown entity reference"))?;
                text_buf.push(c);
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                let value = std::mem::take(&mut text_buf).trim().to_owned();
                let parent = path.last().map(String::as_str);
                match (name.as_str(), parent) {
                    ("label", Some("stream")) => {
                        if let Some(s) = rec.streams.last_mut() {
                            s.label = value;
                        }
                    }
                    ("name", Some("nameID")) => {
                        if let Some(p) = rec.participants.last_mut() {
                            push_limited(&mut p.names, value)?;
                        }
                    }
                    ("send", Some("participant")) => {
                        if let Some(p) = rec.participants.last_mut() {
                            push_limited(&mut p.sends, value)?;
                        }
                    }
                    ("send", Some("participantstreamassoc")) => {
                        let id = assoc_participant.clone().unwrap_or_default();
                        if let Some(p) = rec.participants.iter_mut().find(|p| p.id == id) {
                            push_limited(&mut p.sends, value)?;
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            Event::DocType(_) => {
                return Err(Error::unsupported("rs-metadata", "a DOCTYPE declaration"))
            }
            _ => {}
        }
    }
    if !saw_root {
        return Err(Error::malformed("rs-metadata", "no <recording> element"));
    }
    if !path.is_empty() {
        return Err(Error::Truncated {
            what: "rs-metadata",
            need: bytes.len() + 1,
            have: bytes.len(),
        });
    }
    Ok(rec)
}

/// A sample document (unit tests of this and the dialog module).
#[cfg(test)]
pub(crate) fn tests_metadata() -> &'static str {
    tests::METADATA
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After RFC 7865's examples: the participant/stream association both ways.
    pub(crate) const METADATA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <sipSessionID>ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2</sipSessionID>
  </session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:customer-a@example.com"><name xml:lang="en">Alice &amp; Co</name></nameID>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:agent@example.com"/>
    <send>8zc6e0lYTlWIINA6GR+3ag==</send>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>1</label></stream>
  <stream stream_id="8zc6e0lYTlWIINA6GR+3ag==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>2</label></stream>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send>
    <recv>8zc6e0lYTlWIINA6GR+3ag==</recv>
  </participantstreamassoc>
</recording>"#;

    #[test]
    fn participants_streams_and_associations_parse() {
        let r = parse(METADATA.as_bytes()).unwrap();
        assert_eq!(r.session_ids, vec!["hVpd7YQgRW2nD22h7q60JQ=="]);
        assert_eq!(r.participants.len(), 2);
        let caller = &r.participants[0];
        assert_eq!(caller.aors, vec!["sip:customer-a@example.com"]);
        assert_eq!(caller.names, vec!["Alice & Co"]);
        assert_eq!(r.label_sent_by(caller), Some("1"));
        assert_eq!(r.label_sent_by(&r.participants[1]), Some("2"));
        assert_eq!(
            r.sender_of_label("2").unwrap().aors,
            vec!["sip:agent@example.com"]
        );
        assert!(r.sender_of_label("9").is_none());
    }

    #[test]
    fn malformed_metadata_is_a_typed_error() {
        for bad in [
            "",
            "<other/>",
            "<recording><participant>",
            "<recording></participant></recording>",
            "<recording><stream><label>&bogus;</label></stream></recording>",
            "<!DOCTYPE r [<!ENTITY a \"aaaa\">]><recording/>",
            "<recording><participant participant_id=x/></recording>",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = "<recording>".to_owned() + &"<x>".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(Error::TooLarge { .. })
        ));
        let many =
            "<recording>".to_owned() + &"<participant/>".repeat(MAX_ITEMS + 1) + "</recording>";
        assert!(matches!(
            parse(many.as_bytes()),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            parse(&vec![b' '; MAX_METADATA_BYTES + 1]),
            Err(Error::TooLarge { .. })
        ));
        for n in 0..METADATA.len() {
            if METADATA.is_char_boundary(n) {
                let _ = parse(&METADATA.as_bytes()[..n]);
            }
        }
    }
}
