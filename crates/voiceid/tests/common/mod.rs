//! What the service tests share: a service over a fresh SQLite store, and a domain.

#![allow(dead_code)] // each test binary uses what it needs

use std::path::Path;
use std::sync::Arc;

use voiceprint_store::{Keyring, SqliteStore, Store};
use voiceprint_voiceid::types::*;
use voiceprint_voiceid::{ServiceConfig, VoiceIdService};

/// A service over a SQLite store (and keyring) in `dir`, with a stable token key.
pub fn sqlite_service(dir: &Path) -> VoiceIdService {
    let keyring = Keyring::open_or_create(dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir, keyring).unwrap());
    VoiceIdService::new(store, ServiceConfig::default(), b"stable-token-key")
}

/// Creates a domain named "d" under the default key; its id.
pub fn create_domain(svc: &VoiceIdService) -> String {
    svc.create_domain(CreateDomainRequest {
        client_token: None,
        description: None,
        name: "d".into(),
        server_side_encryption_configuration: ServerSideEncryptionConfiguration {
            kms_key_id: "default".into(),
        },
        tags: None,
    })
    .unwrap()
    .domain
    .domain_id
}
