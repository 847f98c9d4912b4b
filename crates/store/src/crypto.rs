//! AES-256-GCM sealing with random 96-bit nonces, and keyed hashes.
//!
//! Associated data is built from length-prefixed parts so that no two different
//! part lists encode to the same bytes.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Result, StoreError};

pub(crate) const NONCE_LEN: usize = 12;

/// A 256-bit data key: the AEAD for sealing plus a MAC key derived from it.
pub(crate) struct DataKey {
    cipher: Aes256Gcm,
    /// HMAC state with the derived key already absorbed; cloned per hash, which
    /// saves two SHA-256 blocks per lookup.
    alt_mac: Hmac<Sha256>,
}

impl DataKey {
    pub fn random_bytes() -> Zeroizing<[u8; 32]> {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        k
    }

    pub fn new(bytes: &[u8; 32]) -> Self {
        // A separate key for the alt-key hashes, so the AEAD key is used for one thing.
        let mac_key = Zeroizing::new(hmac_sha256(bytes, &[b"voiceprint alt-key hash v1"]));
        DataKey {
            cipher: Aes256Gcm::new(bytes.into()),
            alt_mac: <Hmac<Sha256> as Mac>::new_from_slice(mac_key.as_slice())
                .expect("HMAC takes any key length"),
        }
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        seal_with(&self.cipher, aad, plaintext)
    }

    /// Decrypt `ciphertext` in place (no copy: list pages decrypt ~100 voiceprints).
    pub fn open(&self, nonce: &[u8], aad: &[u8], mut ciphertext: Vec<u8>) -> Result<Vec<u8>> {
        if nonce.len() != NONCE_LEN {
            return Err(StoreError::Corrupt(format!(
                "nonce of {} bytes, expected {NONCE_LEN}",
                nonce.len()
            )));
        }
        self.cipher
            .decrypt_in_place(Nonce::from_slice(nonce), aad, &mut ciphertext)
            .map_err(|_| {
                StoreError::Crypto("authentication failed (tampered data or wrong key)".into())
            })?;
        Ok(ciphertext)
    }

    /// Keyed hash of an alternate key: exact lookups without the plaintext on disk.
    pub fn alt_key_hash(&self, alt_key: &str) -> Vec<u8> {
        let mut m = self.alt_mac.clone();
        m.update(alt_key.as_bytes());
        m.finalize().into_bytes().to_vec()
    }
}

pub(crate) fn seal_with(
    cipher: &Aes256Gcm,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
    Ok((nonce.to_vec(), ct))
}

pub(crate) fn open_with(
    cipher: &Aes256Gcm,
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if nonce.len() != NONCE_LEN {
        return Err(StoreError::Corrupt(format!(
            "nonce of {} bytes, expected {NONCE_LEN}",
            nonce.len()
        )));
    }
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            StoreError::Crypto("authentication failed (tampered data or wrong key)".into())
        })
}

pub(crate) fn master_cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Associated data: a label, then each part as (u32 length, bytes).
pub(crate) fn aad(label: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(label.len() + parts.iter().map(|p| p.len() + 4).sum::<usize>() + 4);
    out.extend_from_slice(&(label.len() as u32).to_be_bytes());
    out.extend_from_slice(label.as_bytes());
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_associated_data() {
        let k = DataKey::new(&DataKey::random_bytes());
        let other = DataKey::new(&DataKey::random_bytes());
        let (nonce, ct) = k.seal(b"ad", b"secret").unwrap();
        assert_eq!(k.open(&nonce, b"ad", ct.clone()).unwrap(), b"secret");
        assert!(matches!(
            k.open(&nonce, b"other ad", ct.clone()),
            Err(StoreError::Crypto(_))
        ));
        assert!(matches!(
            other.open(&nonce, b"ad", ct.clone()),
            Err(StoreError::Crypto(_))
        ));
        assert!(matches!(
            k.open(&nonce[..4], b"ad", ct.clone()),
            Err(StoreError::Corrupt(_))
        ));
        // Random nonces: sealing twice differs.
        assert_ne!(k.seal(b"ad", b"secret").unwrap(), (nonce, ct));
    }

    #[test]
    fn aad_parts_are_unambiguous() {
        assert_ne!(aad("x", &[b"ab", b"c"]), aad("x", &[b"a", b"bc"]));
    }

    #[test]
    fn alt_key_hash_depends_on_key_and_value() {
        let bytes = DataKey::random_bytes();
        let (a, b) = (DataKey::new(&bytes), DataKey::new(&bytes));
        assert_eq!(a.alt_key_hash("cust-1"), b.alt_key_hash("cust-1"));
        assert_ne!(a.alt_key_hash("cust-1"), a.alt_key_hash("cust-2"));
        assert_ne!(
            a.alt_key_hash("cust-1"),
            DataKey::new(&DataKey::random_bytes()).alt_key_hash("cust-1")
        );
    }
}
