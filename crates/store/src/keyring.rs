//! The local keyring: named AES-256 master keys that wrap the per-domain data keys.
//!
//! A Voice ID `KmsKeyId` names a key here. The keyring lives in `<data dir>/keyring`
//! (mode 0600), one `name = <64 hex digits>` a line, and is created on first start
//! with one random key named `default`.
//!
//! The `default` key may instead be kept off the data directory, which is what an
//! operator wants when the data directory is backed up or shared:
//! - `VOICEPRINT_MASTER_KEY`: 64 hex digits (32 bytes), or
//! - `VOICEPRINT_MASTER_KEY_FILE`: path of a file holding those 64 hex digits.
//!
//! When either is set the keyring file is neither created for, nor may it hold, a
//! `default` entry (two sources for one key would be ambiguous). Other named keys
//! (for rotation, `Keyring::create_key`) always live in the keyring file.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::Zeroizing;

use crate::{Result, StoreError};

/// The keyring key used when a caller names none.
pub const DEFAULT_KEY: &str = "default";
/// Environment variable holding the default master key as 64 hex digits.
pub const MASTER_KEY_ENV: &str = "VOICEPRINT_MASTER_KEY";
/// Environment variable naming a file that holds the default master key (64 hex digits).
pub const MASTER_KEY_FILE_ENV: &str = "VOICEPRINT_MASTER_KEY_FILE";
/// Longest key name accepted (Voice ID's KmsKeyId limit).
const MAX_NAME_LEN: usize = 2048;

/// A 256-bit master key; zeroed when dropped, never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        MasterKey(k)
    }

    /// Parse 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let text = text.trim();
        let mut k = Zeroizing::new([0u8; 32]);
        if text.len() != 64 || !text.is_ascii() {
            return Err(StoreError::Keyring(
                "a master key must be exactly 64 hex digits (32 bytes)".into(),
            ));
        }
        for (i, byte) in k.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| {
                StoreError::Keyring("a master key must be exactly 64 hex digits (32 bytes)".into())
            })?;
        }
        Ok(MasterKey(k))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn to_hex(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(64));
        for b in self.0.iter() {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Named master keys. `Debug` lists names only.
pub struct Keyring {
    /// The keyring file (`<dir>/keyring`); keys added with `create_key` go here.
    path: PathBuf,
    keys: BTreeMap<String, MasterKey>,
    /// Whether `default` came from the environment (and so is never written to the file).
    default_from_env: bool,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("default_from_env", &self.default_from_env)
            .finish()
    }
}

/// The default master key named by the environment (`VOICEPRINT_MASTER_KEY` or
/// `VOICEPRINT_MASTER_KEY_FILE`), read through `var` so tests need not touch the
/// process environment. `Ok(None)` when neither is set.
pub fn default_key_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<MasterKey>> {
    match (var(MASTER_KEY_ENV), var(MASTER_KEY_FILE_ENV)) {
        (Some(_), Some(_)) => Err(StoreError::Keyring(format!(
            "set only one of {MASTER_KEY_ENV} and {MASTER_KEY_FILE_ENV}"
        ))),
        (Some(hex), None) => MasterKey::from_hex(&hex)
            .map(Some)
            .map_err(|e| StoreError::Keyring(format!("{MASTER_KEY_ENV}: {e}"))),
        (None, Some(path)) => {
            let text =
                Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                    StoreError::Keyring(format!("{MASTER_KEY_FILE_ENV}={path}: {e}"))
                })?);
            MasterKey::from_hex(&text)
                .map(Some)
                .map_err(|e| StoreError::Keyring(format!("{MASTER_KEY_FILE_ENV}={path}: {e}")))
        }
        (None, None) => Ok(None),
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.starts_with('#')
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '=' || c.is_control())
    {
        return Err(StoreError::Keyring(format!(
            "invalid key name {name:?}: 1 to {MAX_NAME_LEN} characters, no spaces or '=', not starting with '#'"
        )));
    }
    Ok(())
}

impl Keyring {
    /// Open `<dir>/keyring`, creating it with a random `default` key on first start,
    /// unless the environment supplies the default key (see the module docs).
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<Keyring> {
        let default = default_key_from_env(|k| std::env::var(k).ok())?;
        Self::open_with_default(dir, default)
    }

    /// As [`Keyring::open_or_create`], with the default key given explicitly
    /// (`None`: from the keyring file, created if absent).
    pub fn open_with_default(dir: impl AsRef<Path>, default: Option<MasterKey>) -> Result<Keyring> {
        let path = dir.as_ref().join("keyring");
        let mut keys = match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&path, &Zeroizing::new(text))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(StoreError::Keyring(format!("{}: {e}", path.display()))),
        };
        let default_from_env = default.is_some();
        let mut keyring = match default {
            Some(key) => {
                if keys.contains_key(DEFAULT_KEY) {
                    return Err(StoreError::Keyring(format!(
                        "the default master key is given both by the environment and in {}; keep one",
                        path.display()
                    )));
                }
                keys.insert(DEFAULT_KEY.into(), key);
                Keyring {
                    path,
                    keys,
                    default_from_env,
                }
            }
            None => Keyring {
                path,
                keys,
                default_from_env,
            },
        };
        if !keyring.keys.contains_key(DEFAULT_KEY) {
            if keyring.path.exists() {
                return Err(StoreError::Keyring(format!(
                    "{} has no '{DEFAULT_KEY}' key and neither {MASTER_KEY_ENV} nor {MASTER_KEY_FILE_ENV} is set",
                    keyring.path.display()
                )));
            }
            keyring.keys.insert(DEFAULT_KEY.into(), MasterKey::random());
            keyring.save()?;
        }
        Ok(keyring)
    }

    fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, MasterKey>> {
        let mut keys = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: String| {
                StoreError::Keyring(format!("{} line {}: {why}", path.display(), n + 1))
            };
            let (name, hex) = line
                .split_once('=')
                .ok_or_else(|| bad("expected `name = <64 hex digits>`".into()))?;
            let name = name.trim();
            check_name(name).map_err(|e| bad(e.to_string()))?;
            let key = MasterKey::from_hex(hex).map_err(|e| bad(e.to_string()))?;
            if keys.insert(name.to_string(), key).is_some() {
                return Err(bad(format!("key {name:?} appears twice")));
            }
        }
        Ok(keys)
    }

    /// Write the file-held keys atomically (temporary file, fsync, rename, fsync dir).
    fn save(&self) -> Result<()> {
        let mut text = Zeroizing::new(String::from(
            "# voiceprint keyring: AES-256 master keys, `name = <64 hex digits>` a line.\n\
             # Keep this file private (mode 0600) and back it up apart from the database:\n\
             # without it the stored voiceprints cannot be decrypted.\n",
        ));
        for (name, key) in &self.keys {
            if name == DEFAULT_KEY && self.default_from_env {
                continue;
            }
            text.push_str(name);
            text.push_str(" = ");
            text.push_str(&key.to_hex());
            text.push('\n');
        }
        let tmp = self.path.with_extension("tmp");
        let io = |p: &Path, e: std::io::Error| StoreError::Keyring(format!("{}: {e}", p.display()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e))?;
        if let Some(parent) = self.path.parent() {
            // The rename is durable only once the directory entry is.
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Add a random key named `name` and persist it to the keyring file.
    pub fn create_key(&mut self, name: &str) -> Result<()> {
        check_name(name)?;
        if self.keys.contains_key(name) {
            return Err(StoreError::Keyring(format!(
                "the keyring already has a key named {name:?}"
            )));
        }
        self.keys.insert(name.to_string(), MasterKey::random());
        if let Err(e) = self.save() {
            self.keys.remove(name);
            return Err(e);
        }
        Ok(())
    }

    /// Whether the keyring holds a key named `name`.
    pub fn has_key(&self, name: &str) -> bool {
        self.keys.contains_key(name)
    }

    /// The names of the keys, sorted.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub(crate) fn key(&self, name: &str) -> Result<&MasterKey> {
        self.keys
            .get(name)
            .ok_or_else(|| StoreError::UnknownKey(name.to_string()))
    }

    /// The file this keyring reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_open_creates_a_private_file_with_a_default_key_that_reopens_equal() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keyring::open_with_default(dir.path(), None).unwrap();
        assert!(a.has_key(DEFAULT_KEY));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keyring"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = Keyring::open_with_default(dir.path(), None).unwrap();
        assert_eq!(
            a.key(DEFAULT_KEY).unwrap().bytes(),
            b.key(DEFAULT_KEY).unwrap().bytes()
        );
    }

    #[test]
    fn created_keys_persist_and_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = Keyring::open_with_default(dir.path(), None).unwrap();
        k.create_key("arn:aws:kms:us-east-1:1:key/abc").unwrap();
        assert!(matches!(
            k.create_key("arn:aws:kms:us-east-1:1:key/abc"),
            Err(StoreError::Keyring(_))
        ));
        assert!(matches!(
            k.create_key("has space"),
            Err(StoreError::Keyring(_))
        ));
        assert!(matches!(k.create_key(""), Err(StoreError::Keyring(_))));
        let again = Keyring::open_with_default(dir.path(), None).unwrap();
        assert_eq!(
            again.key_names().collect::<Vec<_>>(),
            ["arn:aws:kms:us-east-1:1:key/abc", "default"]
        );
    }

    #[test]
    fn env_default_key_is_used_and_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let key = default_key_from_env(|k| (k == MASTER_KEY_ENV).then(|| hex.to_string()))
            .unwrap()
            .unwrap();
        let mut k = Keyring::open_with_default(dir.path(), Some(key)).unwrap();
        assert_eq!(k.key(DEFAULT_KEY).unwrap().bytes()[1], 0x11);
        assert!(!dir.path().join("keyring").exists());
        k.create_key("second").unwrap();
        let text = std::fs::read_to_string(dir.path().join("keyring")).unwrap();
        assert!(text.contains("second = ") && !text.contains("default") && !text.contains(hex));
        // Reopening without the environment key: the file has no default, a clear error.
        let err = Keyring::open_with_default(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(MASTER_KEY_ENV), "{err}");
    }

    #[test]
    fn env_key_file_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mk");
        std::fs::write(&file, format!("{}\n", "ab".repeat(32))).unwrap();
        let p = file.display().to_string();
        let key = default_key_from_env(|k| (k == MASTER_KEY_FILE_ENV).then(|| p.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(key.bytes(), &[0xab; 32]);
        assert!(default_key_from_env(|_| None).unwrap().is_none());
        let short = default_key_from_env(|k| (k == MASTER_KEY_ENV).then(|| "abcd".into()));
        assert!(matches!(short, Err(StoreError::Keyring(m)) if m.contains(MASTER_KEY_ENV)));
        let both = default_key_from_env(|_| Some("ab".repeat(32)));
        assert!(matches!(both, Err(StoreError::Keyring(_))));
        let missing =
            default_key_from_env(|k| (k == MASTER_KEY_FILE_ENV).then(|| "/nonexistent/mk".into()));
        assert!(matches!(missing, Err(StoreError::Keyring(m)) if m.contains("/nonexistent/mk")));
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = MasterKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(!format!("{key:?}").contains("cd"));
        let dir = tempfile::tempdir().unwrap();
        let k = Keyring::open_with_default(dir.path(), Some(key)).unwrap();
        let shown = format!("{k:?}");
        assert!(
            shown.contains("default") && !shown.contains("cdcd"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keyring"), "default = nothex\n").unwrap();
        let err = Keyring::open_with_default(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
