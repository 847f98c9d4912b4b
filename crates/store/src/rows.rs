//! Backend-independent row sealing: what every `Store` implementation stores
//! and how. A row's sensitive part and voiceprint are sealed (AES-256-GCM) under
//! the domain's data key, which is wrapped by a keyring master key; the associated
//! data binds each ciphertext to its row and key generation (see `sqlite` for the
//! full design). SQLite and PostgreSQL differ only in SQL, never in these bytes.

use zeroize::Zeroizing;

use crate::crypto::{self, DataKey};
use crate::keyring::{Keyring, MASTER_KEY_ENV, MASTER_KEY_FILE_ENV};
use crate::{Kind, Record, Result, StoreError};

pub(crate) fn kind_code(kind: Kind) -> i64 {
    match kind {
        Kind::Domain => 1,
        Kind::Watchlist => 2,
        Kind::Speaker => 3,
        Kind::Fraudster => 4,
        Kind::SpeakerEnrollmentJob => 5,
        Kind::FraudsterRegistrationJob => 6,
        Kind::Session => 7,
        Kind::ClientToken => 8,
        Kind::TrainingSegment => 9,
    }
}

pub(crate) fn kind_from_code(code: i64) -> Result<Kind> {
    Ok(match code {
        1 => Kind::Domain,
        2 => Kind::Watchlist,
        3 => Kind::Speaker,
        4 => Kind::Fraudster,
        5 => Kind::SpeakerEnrollmentJob,
        6 => Kind::FraudsterRegistrationJob,
        7 => Kind::Session,
        8 => Kind::ClientToken,
        9 => Kind::TrainingSegment,
        other => return Err(StoreError::Corrupt(format!("unknown record kind {other}"))),
    })
}

/// A data key generation and the name of the master key that wraps it.
pub type KeyGeneration = (i64, String);

/// One generation of a domain's data key.
pub(crate) struct GenKey {
    pub(crate) generation: i64,
    pub(crate) kms_key_id: String,
    pub(crate) key: DataKey,
}

/// A domain's keys as cached: the current one and, during a rotation, the next.
pub(crate) struct DomainKeys {
    pub(crate) current: GenKey,
    pub(crate) next: Option<GenKey>,
}

impl DomainKeys {
    /// Whether these cached keys are the generations (and master keys) `w` names:
    /// if not, another writer (or node) rotated them since they were cached.
    pub(crate) fn matches(&self, w: &WrappedKeys) -> bool {
        let same = |g: &GenKey, gen: i64, kms: &str| g.generation == gen && g.kms_key_id == kms;
        let next_same = match (&self.next, &w.next) {
            (None, None) => true,
            (Some(a), Some((g, kms, _, _))) => same(a, *g, kms),
            _ => false,
        };
        same(&self.current, w.generation, &w.kms_key_id) && next_same
    }

    /// The key new writes use.
    pub(crate) fn write_key(&self) -> &GenKey {
        self.next.as_ref().unwrap_or(&self.current)
    }

    pub(crate) fn by_generation(&self, generation: i64) -> Option<&GenKey> {
        std::iter::once(&self.current)
            .chain(self.next.as_ref())
            .find(|k| k.generation == generation)
    }
}

/// A `domain_keys` row, still wrapped.
pub(crate) struct WrappedKeys {
    pub(crate) generation: i64,
    pub(crate) kms_key_id: String,
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) wrap_nonce: Vec<u8>,
    pub(crate) next: Option<(i64, String, Vec<u8>, Vec<u8>)>,
}

/// A `records` row as read, before decryption.
pub(crate) struct RawRow {
    pub(crate) kind: i64,
    pub(crate) domain_id: String,
    pub(crate) id: String,
    pub(crate) alt_key_hash: Option<Vec<u8>>,
    pub(crate) attributes: String,
    pub(crate) key_generation: i64,
    pub(crate) sensitive_nonce: Vec<u8>,
    pub(crate) sensitive_ct: Vec<u8>,
    pub(crate) voiceprint_nonce: Option<Vec<u8>>,
    pub(crate) voiceprint_ct: Option<Vec<u8>>,
    /// Read by a listing that does not want voiceprints: `voiceprint_ct` is only a
    /// presence marker (empty), not decrypted, and the record gets `None`.
    pub(crate) skip_voiceprint: bool,
}

/// Plaintext of `sensitive_ct`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct SensitivePlain {
    pub(crate) alt_key: Option<String>,
    pub(crate) sensitive: serde_json::Value,
}

pub(crate) fn wrap_aad(domain_id: &str, kms_key_id: &str, generation: i64) -> Vec<u8> {
    crypto::aad(
        "voiceprint domain data key v1",
        &[
            domain_id.as_bytes(),
            kms_key_id.as_bytes(),
            &generation.to_be_bytes(),
        ],
    )
}

pub(crate) fn sensitive_aad(
    kind: i64,
    domain_id: &str,
    id: &str,
    generation: i64,
    attributes: &str,
    has_voiceprint: bool,
) -> Vec<u8> {
    crypto::aad(
        "voiceprint sensitive v1",
        &[
            &kind.to_be_bytes(),
            domain_id.as_bytes(),
            id.as_bytes(),
            &generation.to_be_bytes(),
            attributes.as_bytes(),
            &[u8::from(has_voiceprint)],
        ],
    )
}

pub(crate) fn voiceprint_aad(kind: i64, domain_id: &str, id: &str, generation: i64) -> Vec<u8> {
    crypto::aad(
        "voiceprint voiceprint v1",
        &[
            &kind.to_be_bytes(),
            domain_id.as_bytes(),
            id.as_bytes(),
            &generation.to_be_bytes(),
        ],
    )
}

/// The sealed columns of one row.
pub(crate) struct SealedRow {
    pub(crate) alt_key_hash: Option<Vec<u8>>,
    pub(crate) attributes: String,
    pub(crate) sensitive_nonce: Vec<u8>,
    pub(crate) sensitive_ct: Vec<u8>,
    pub(crate) voiceprint: Option<(Vec<u8>, Vec<u8>)>,
}

/// Seal `r` (whose `attributes` are already serialised as `attributes`) under `key`.
pub(crate) fn seal_row(key: &GenKey, r: Record, attributes: String) -> Result<SealedRow> {
    let Record {
        kind,
        domain_id,
        id,
        alt_key,
        sensitive,
        voiceprint,
        ..
    } = r;
    let (kind, domain_id, id, voiceprint) = (
        kind_code(kind),
        domain_id.as_str(),
        id.as_str(),
        voiceprint.as_deref(),
    );
    let g = key.generation;
    let alt_key_hash = alt_key.as_deref().map(|a| key.key.alt_key_hash(a));
    let plain = Zeroizing::new(
        serde_json::to_vec(&SensitivePlain { alt_key, sensitive })
            .map_err(|e| StoreError::Corrupt(format!("sensitive attributes: {e}")))?,
    );
    let (sensitive_nonce, sensitive_ct) = key.key.seal(
        &sensitive_aad(kind, domain_id, id, g, &attributes, voiceprint.is_some()),
        &plain,
    )?;
    let voiceprint = voiceprint
        .map(|v| key.key.seal(&voiceprint_aad(kind, domain_id, id, g), v))
        .transpose()?;
    Ok(SealedRow {
        alt_key_hash,
        attributes,
        sensitive_nonce,
        sensitive_ct,
        voiceprint,
    })
}

/// Decrypt and check a row under the key of its generation.
pub(crate) fn open_row(raw: RawRow, key: &GenKey) -> Result<Record> {
    let what = || format!("record {}/{} (kind {})", raw.domain_id, raw.id, raw.kind);
    let crypto_err = |e: StoreError| match e {
        StoreError::Crypto(m) => StoreError::Crypto(format!("{}: {m}", what())),
        other => other,
    };
    let kind = kind_from_code(raw.kind)?;
    let has_voiceprint = raw.voiceprint_ct.is_some();
    let plain = Zeroizing::new(
        key.key
            .open(
                &raw.sensitive_nonce,
                &sensitive_aad(
                    raw.kind,
                    &raw.domain_id,
                    &raw.id,
                    raw.key_generation,
                    &raw.attributes,
                    has_voiceprint,
                ),
                raw.sensitive_ct,
            )
            .map_err(crypto_err)?,
    );
    let SensitivePlain { alt_key, sensitive } = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Corrupt(format!("{}: sensitive part: {e}", what())))?;
    let expected_hash = alt_key.as_deref().map(|a| key.key.alt_key_hash(a));
    if expected_hash != raw.alt_key_hash {
        return Err(StoreError::Corrupt(format!(
            "{}: alt-key hash does not match",
            what()
        )));
    }
    let attributes = serde_json::from_str(&raw.attributes)
        .map_err(|e| StoreError::Corrupt(format!("{}: attributes: {e}", what())))?;
    let voiceprint = match (raw.voiceprint_nonce, raw.voiceprint_ct) {
        (Some(_), Some(_)) if raw.skip_voiceprint => None,
        (Some(n), Some(ct)) => Some(
            key.key
                .open(
                    &n,
                    &voiceprint_aad(raw.kind, &raw.domain_id, &raw.id, raw.key_generation),
                    ct,
                )
                .map_err(crypto_err)?,
        ),
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "{}: voiceprint nonce without ciphertext",
                what()
            )))
        }
    };
    Ok(Record {
        kind,
        domain_id: raw.domain_id,
        id: raw.id,
        alt_key,
        attributes,
        sensitive,
        voiceprint,
    })
}

/// Unwraps one generation of a domain's data key with its master key.
pub(crate) fn unwrap_key(
    keyring: &Keyring,
    domain_id: &str,
    generation: i64,
    kms_key_id: &str,
    wrapped: &[u8],
    nonce: &[u8],
) -> Result<GenKey> {
    let master = keyring.key(kms_key_id)?;
    let bytes = crypto::open_with(
        &crypto::master_cipher(master.bytes()),
        nonce,
        &wrap_aad(domain_id, kms_key_id, generation),
        wrapped,
    )
    .map_err(|_| {
        StoreError::Crypto(format!(
            "the data key of domain {domain_id} does not decrypt under master key '{kms_key_id}': \
             the keyring holds a different key than the one this database was written with \
             (check {} or {MASTER_KEY_ENV} / {MASTER_KEY_FILE_ENV})",
            keyring.path().display()
        ))
    })?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        StoreError::Corrupt(format!("data key of domain {domain_id} is not 32 bytes"))
    })?;
    let bytes = Zeroizing::new(bytes);
    Ok(GenKey {
        generation,
        kms_key_id: kms_key_id.to_string(),
        key: DataKey::new(&bytes),
    })
}

/// Wraps a data key under master key `kms_key_id`: `(ciphertext, nonce)`.
pub(crate) fn wrap_key(
    keyring: &Keyring,
    domain_id: &str,
    generation: i64,
    kms_key_id: &str,
    key: &[u8; 32],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let master = keyring.key(kms_key_id)?;
    let (nonce, ct) = crypto::seal_with(
        &crypto::master_cipher(master.bytes()),
        &wrap_aad(domain_id, kms_key_id, generation),
        key,
    )?;
    Ok((ct, nonce))
}

/// Unwraps a domain's current key and, during a rotation, its next one.
pub(crate) fn unwrap_all(
    keyring: &Keyring,
    domain_id: &str,
    w: &WrappedKeys,
) -> Result<DomainKeys> {
    let current = unwrap_key(
        keyring,
        domain_id,
        w.generation,
        &w.kms_key_id,
        &w.wrapped_key,
        &w.wrap_nonce,
    )?;
    let next = match &w.next {
        Some((g, kms, wrapped, nonce)) => {
            Some(unwrap_key(keyring, domain_id, *g, kms, wrapped, nonce)?)
        }
        None => None,
    };
    Ok(DomainKeys { current, next })
}

/// The key a rotation moves rows to: the interrupted rotation's own key when one
/// is pending (so resuming never strands rows), else a fresh key one generation up.
pub(crate) fn rotation_key(
    keyring: &Keyring,
    domain_id: &str,
    w: &WrappedKeys,
) -> Result<(i64, Zeroizing<[u8; 32]>)> {
    match &w.next {
        Some((g, kms, wrapped, nonce)) => {
            let bytes = crypto::open_with(
                &crypto::master_cipher(keyring.key(kms)?.bytes()),
                nonce,
                &wrap_aad(domain_id, kms, *g),
                wrapped,
            )?;
            let bytes: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("data key length".into()))?;
            Ok((*g, Zeroizing::new(bytes)))
        }
        None => Ok((w.generation + 1, DataKey::random_bytes())),
    }
}
