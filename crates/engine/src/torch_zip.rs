//! Reader for PyTorch's zip checkpoint format (`torch.save` since 1.6).
//!
//! Such a file is an uncompressed ("stored") zip archive: `<name>/data.pkl`
//! holds the pickled object graph, `<name>/data/<key>` the raw little-endian
//! bytes of each storage. This module only walks the zip container; the
//! pickle is interpreted by [`crate::torch_legacy::state_dict_from_pickle`],
//! which shares the legacy format's pickle VM (nothing is executed).
//!
//! Deliberately not a general zip reader: compressed members, zip64 and
//! multi-disk archives are refused with [`EngineError::Weights`], which torch
//! never writes for checkpoints of our size.

use std::collections::HashMap;
use std::path::Path;

use crate::torch_legacy::{state_dict_from_pickle, Tensor};
use crate::EngineError;

const END_OF_CENTRAL_DIR: u32 = 0x0605_4b50;
const CENTRAL_DIR_ENTRY: u32 = 0x0201_4b50;
const LOCAL_HEADER: u32 = 0x0403_4b50;
/// EOCD record without comment, and the largest comment a zip may carry.
const EOCD_LEN: usize = 22;
const MAX_COMMENT: usize = u16::MAX as usize;

/// Reads the state dict (tensor name → tensor) of a zip-format torch checkpoint.
pub fn load_state_dict(path: &Path) -> Result<HashMap<String, Tensor>, EngineError> {
    let bytes = std::fs::read(path)
        .map_err(|e| EngineError::Weights(format!("{}: {e}", path.display())))?;
    parse_state_dict(&bytes).map_err(|e| match e {
        EngineError::Weights(m) => EngineError::Weights(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// [`load_state_dict`] on bytes already in memory.
pub fn parse_state_dict(bytes: &[u8]) -> Result<HashMap<String, Tensor>, EngineError> {
    let members = members(bytes)?;
    let pickle_name = members
        .keys()
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .min()
        .ok_or_else(|| weights("zip archive has no <name>/data.pkl: not a torch checkpoint"))?;
    let prefix = &pickle_name[..pickle_name.len() - "data.pkl".len()];
    let pickle = members[pickle_name];
    let storage = |key: &str| members.get(format!("{prefix}data/{key}").as_str()).copied();
    Ok(state_dict_from_pickle(pickle, storage)?)
}

fn weights(message: impl Into<String>) -> EngineError {
    EngineError::Weights(message.into())
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, EngineError> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| weights(format!("zip truncated at byte {at}")))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, EngineError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| weights(format!("zip truncated at byte {at}")))
}

/// Every member's name and contents, from the central directory.
fn members(bytes: &[u8]) -> Result<HashMap<&str, &[u8]>, EngineError> {
    if !bytes.starts_with(b"PK") {
        return Err(weights(
            "not a zip archive (a zip-format torch checkpoint was expected)",
        ));
    }
    // The end-of-central-directory record is the last thing in the file,
    // followed only by an optional comment.
    let lowest = bytes.len().saturating_sub(EOCD_LEN + MAX_COMMENT);
    let eocd = (lowest..=bytes.len().saturating_sub(EOCD_LEN))
        .rev()
        .find(|&i| u32_at(bytes, i).ok() == Some(END_OF_CENTRAL_DIR))
        .ok_or_else(|| weights("zip end-of-central-directory record not found"))?;
    let entries = usize::from(u16_at(bytes, eocd + 10)?);
    let dir_len = u32_at(bytes, eocd + 12)?;
    let dir_offset = u32_at(bytes, eocd + 16)?;
    if dir_len == u32::MAX || dir_offset == u32::MAX || entries == usize::from(u16::MAX) {
        return Err(weights("zip64 archives are not supported"));
    }
    let mut out = HashMap::with_capacity(entries);
    let mut at = dir_offset as usize;
    for _ in 0..entries {
        if u32_at(bytes, at)? != CENTRAL_DIR_ENTRY {
            return Err(weights(format!(
                "bad zip central directory entry at byte {at}"
            )));
        }
        let method = u16_at(bytes, at + 10)?;
        let compressed = u32_at(bytes, at + 20)? as usize;
        let size = u32_at(bytes, at + 24)? as usize;
        let name_len = usize::from(u16_at(bytes, at + 28)?);
        let extra_len = usize::from(u16_at(bytes, at + 30)?);
        let comment_len = usize::from(u16_at(bytes, at + 32)?);
        let local = u32_at(bytes, at + 42)? as usize;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or_else(|| weights(format!("bad zip member name at byte {at}")))?;
        if method != 0 || compressed != size {
            return Err(weights(format!(
                "zip member {name} is compressed (method {method}); torch checkpoints are stored"
            )));
        }
        // The local header repeats name and extra field, and torch pads the
        // extra field so that data is aligned: its lengths may differ.
        if u32_at(bytes, local)? != LOCAL_HEADER {
            return Err(weights(format!("bad zip local header for {name}")));
        }
        let data_start = local
            + 30
            + usize::from(u16_at(bytes, local + 26)?)
            + usize::from(u16_at(bytes, local + 28)?);
        let data = bytes
            .get(data_start..data_start + size)
            .ok_or_else(|| weights(format!("zip member {name} runs past the end of the file")))?;
        out.insert(name, data);
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_zip_bytes_are_a_weights_error() {
        let err = parse_state_dict(b"definitely not a checkpoint").unwrap_err();
        assert!(matches!(err, EngineError::Weights(m) if m.contains("not a zip")));
    }

    #[test]
    fn truncated_zip_is_a_weights_error() {
        let err = parse_state_dict(b"PK\x03\x04 truncated").unwrap_err();
        assert!(matches!(err, EngineError::Weights(_)));
    }
}
