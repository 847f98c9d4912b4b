//! RTP (RFC 3550) packets carrying G.711: header parsing (version, padding,
//! extension, CSRCs), payload types 0 (PCMU) and 8 (PCMA) decoded through
//! voiceprint-audio's G.711 tables, and [`Reorder`]: a small window that puts
//! packets back in sequence order and reports the ones lost.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// Fixed header bytes.
pub const HEADER_BYTES: usize = 12;
/// Static payload type of G.711 μ-law.
pub const PT_PCMU: u8 = 0;
/// Static payload type of G.711 A-law.
pub const PT_PCMA: u8 = 8;

/// One RTP packet, borrowing its payload from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrcs: Vec<u32>,
    /// The header extension's profile id and data, when present.
    pub extension: Option<(u16, &'a [u8])>,
    /// The payload without padding.
    pub payload: &'a [u8],
}

/// Parses one RTP datagram. RTCP (payload types 72–76 with the marker bit, as it
/// appears when multiplexed on the RTP port) is refused as unsupported.
pub fn parse(bytes: &[u8]) -> Result<Packet<'_>> {
    let truncated = |need: usize| Error::Truncated {
        what: "RTP packet",
        need,
        have: bytes.len(),
    };
    if bytes.len() < HEADER_BYTES {
        return Err(truncated(HEADER_BYTES));
    }
    let version = bytes[0] >> 6;
    if version != 2 {
        return Err(Error::malformed(
            "RTP header",
            format!("version {version}, not 2"),
        ));
    }
    let padding = bytes[0] & 0x20 != 0;
    let has_extension = bytes[0] & 0x10 != 0;
    let csrc_count = usize::from(bytes[0] & 0x0f);
    let marker = bytes[1] & 0x80 != 0;
    let payload_type = bytes[1] & 0x7f;
    if (72..=76).contains(&payload_type) {
        return Err(Error::unsupported("RTP packet", "RTCP on the RTP port"));
    }
    let sequence = u16::from_be_bytes([bytes[2], bytes[3]]);
    let timestamp = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let ssrc = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let mut at = HEADER_BYTES + 4 * csrc_count;
    if bytes.len() < at {
        return Err(truncated(at));
    }
    let csrcs = bytes[HEADER_BYTES..at]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut extension = None;
    if has_extension {
        if bytes.len() < at + 4 {
            return Err(truncated(at + 4));
        }
        let profile = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let words = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let end = at + 4 + 4 * words;
        if bytes.len() < end {
            return Err(truncated(end));
        }
        extension = Some((profile, &bytes[at + 4..end]));
        at = end;
    }
    let mut end = bytes.len();
    if padding {
        let pad = usize::from(bytes[bytes.len() - 1]);
        if pad == 0 || at + pad > end {
            return Err(Error::malformed(
                "RTP padding",
                format!("{pad} padding bytes in a {end}-byte packet"),
            ));
        }
        end -= pad;
    }
    Ok(Packet {
        marker,
        payload_type,
        sequence,
        timestamp,
        ssrc,
        csrcs,
        extension,
        payload: &bytes[at..end],
    })
}

/// Writes an RTP packet (tests, load generators).
pub fn encode(
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.push(0x80);
    out.push(payload_type & 0x7f);
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The G.711 law of a static payload type.
pub fn g711_encoding(payload_type: u8) -> Result<voiceprint_audio::RawEncoding> {
    match payload_type {
        PT_PCMU => Ok(voiceprint_audio::RawEncoding::Mulaw),
        PT_PCMA => Ok(voiceprint_audio::RawEncoding::Alaw),
        other => Err(Error::unsupported(
            "RTP payload type",
            format!("{other} (only 0 PCMU and 8 PCMA)"),
        )),
    }
}

/// G.711 payload → 16-bit linear samples.
pub fn decode_g711(payload_type: u8, payload: &[u8]) -> Result<Vec<i16>> {
    let law = match g711_encoding(payload_type)? {
        voiceprint_audio::RawEncoding::Alaw => voiceprint_audio::alaw_to_linear,
        _ => voiceprint_audio::mulaw_to_linear,
    };
    Ok(payload.iter().map(|b| law(*b)).collect())
}

/// The byte G.711 encodes silence as (so lost packets can be filled in time).
pub fn g711_silence(payload_type: u8) -> u8 {
    if payload_type == PT_PCMA {
        0xD5
    } else {
        0xFF
    }
}

/// What [`Reorder`] released: a packet's payload in order, after `lost` missing packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InOrder {
    pub sequence: u16,
    pub lost_before: u32,
    pub payload: Vec<u8>,
}

/// Puts packets back in sequence order. Holds at most `window` packets waiting
/// for a missing one; when the window is full the gap is declared lost. Packets
/// older than the last released one (late or duplicate) are dropped.
#[derive(Debug)]
pub struct Reorder {
    window: usize,
    /// Extended (wrap-free) sequence number expected next.
    next: Option<i64>,
    held: BTreeMap<i64, Vec<u8>>,
    /// Packets dropped as late or duplicate.
    pub dropped: u64,
}

impl Reorder {
    pub fn new(window: usize) -> Self {
        Reorder {
            window: window.max(1),
            next: None,
            held: BTreeMap::new(),
            dropped: 0,
        }
    }

    /// The 16-bit sequence number extended to the one nearest `reference`.
    fn extend(reference: i64, seq: u16) -> i64 {
        let delta = i64::from(seq.wrapping_sub(reference as u16) as i16);
        reference + delta
    }

    /// Takes one packet; returns those now in order.
    pub fn push(&mut self, sequence: u16, payload: &[u8]) -> Vec<InOrder> {
        let next = *self.next.get_or_insert(i64::from(sequence));
        let ext = Self::extend(next, sequence);
        if ext < next || self.held.contains_key(&ext) {
            self.dropped += 1;
            return Vec::new();
        }
        self.held.insert(ext, payload.to_vec());
        let mut out = Vec::new();
        self.release(&mut out, false);
        out
    }

    /// Releases everything held (end of stream), gaps counted as lost.
    pub fn flush(&mut self) -> Vec<InOrder> {
        let mut out = Vec::new();
        self.release(&mut out, true);
        out
    }

    fn release(&mut self, out: &mut Vec<InOrder>, all: bool) {
        loop {
            let Some(next) = self.next else { return };
            let Some((&first, _)) = self.held.first_key_value() else {
                return;
            };
            if first != next && !all && self.held.len() < self.window {
                return;
            }
            let payload = self.held.remove(&first).unwrap_or_default();
            out.push(InOrder {
                sequence: first as u16,
                lost_before: (first - next) as u32,
                payload,
            });
            self.next = Some(first + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_csrcs_extension_and_padding_parse() {
        let p = encode(PT_PCMU, 65535, 160, 0xdeadbeef, &[1, 2, 3]);
        let got = parse(&p).unwrap();
        assert_eq!(
            (got.payload_type, got.sequence, got.timestamp, got.ssrc),
            (0, 65535, 160, 0xdeadbeef)
        );
        assert_eq!(got.payload, &[1, 2, 3]);
        assert!(!got.marker && got.csrcs.is_empty() && got.extension.is_none());

        // V=2, P=1, X=1, CC=2; M=1 PT=8; extension of one word; 2 padding bytes.
        let mut b = vec![0xB2, 0x88, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1];
        b.extend([0, 0, 0, 0xA, 0, 0, 0, 0xB]);
        b.extend([0xBE, 0xDE, 0, 1, 1, 2, 3, 4]);
        b.extend([0x55, 0x55, 0, 2]);
        let got = parse(&b).unwrap();
        assert!(got.marker);
        assert_eq!(got.payload_type, PT_PCMA);
        assert_eq!(got.csrcs, vec![0xA, 0xB]);
        assert_eq!(got.extension, Some((0xBEDE, &[1u8, 2, 3, 4][..])));
        assert_eq!(got.payload, &[0x55, 0x55]);
    }

    #[test]
    fn malformed_rtp_is_a_typed_error() {
        assert!(matches!(parse(&[0x80; 5]), Err(Error::Truncated { .. })));
        let mut v1 = encode(0, 1, 1, 1, &[0]);
        v1[0] = 0x40;
        assert!(matches!(parse(&v1), Err(Error::Malformed { .. })));
        // CSRC count larger than the packet.
        let mut cc = encode(0, 1, 1, 1, &[0]);
        cc[0] = 0x8F;
        assert!(matches!(parse(&cc), Err(Error::Truncated { .. })));
        // Extension length past the end.
        let mut x = encode(0, 1, 1, 1, &[0xBE, 0xDE, 0, 9]);
        x[0] = 0x90;
        assert!(matches!(parse(&x), Err(Error::Truncated { .. })));
        // Padding count larger than the payload, and zero.
        let mut p = encode(0, 1, 1, 1, &[1, 2, 40]);
        p[0] = 0xA0;
        assert!(matches!(parse(&p), Err(Error::Malformed { .. })));
        let mut p0 = encode(0, 1, 1, 1, &[1, 2, 0]);
        p0[0] = 0xA0;
        assert!(matches!(parse(&p0), Err(Error::Malformed { .. })));
        // RTCP sender report multiplexed on the port.
        let rtcp = [0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(parse(&rtcp), Err(Error::Unsupported { .. })));
        for n in 0..x.len() {
            let _ = parse(&x[..n]);
        }
    }

    #[test]
    fn g711_payloads_decode_with_the_audio_crates_tables() {
        assert_eq!(
            decode_g711(PT_PCMU, &[0xFF, 0x00, 0x80]).unwrap(),
            vec![0, -32124, 32124]
        );
        assert_eq!(decode_g711(PT_PCMA, &[0xD5]).unwrap(), vec![8]);
        assert!(matches!(
            decode_g711(18, &[0]),
            Err(Error::Unsupported { .. })
        ));
        assert_eq!(
            decode_g711(PT_PCMU, &[g711_silence(PT_PCMU)]).unwrap(),
            vec![0]
        );
    }

    #[test]
    fn reorder_restores_order_counts_loss_and_survives_wraparound() {
        let mut r = Reorder::new(3);
        let seqs = [65533u16, 65535, 65534, 0, 2, 3, 4, 5, 1, 5];
        let mut out = Vec::new();
        for s in seqs {
            out.extend(r.push(s, &[s as u8]));
        }
        out.extend(r.flush());
        let order: Vec<u16> = out.iter().map(|p| p.sequence).collect();
        // 1 arrived after the window gave up on it: lost, then dropped as late.
        assert_eq!(order, vec![65533, 65534, 65535, 0, 2, 3, 4, 5]);
        assert_eq!(out[4].lost_before, 1);
        assert!(out
            .iter()
            .filter(|p| p.sequence != 2)
            .all(|p| p.lost_before == 0));
        assert_eq!(r.dropped, 2); // late 1, duplicate 5
    }
}
