//! Layered configuration: embedded `config/default.toml` → `--config FILE` →
//! `VOICEPRINT__SECTION__KEY` environment variables → command-line flags.
//!
//! Every layer is merged as TOML tables before one typed, validated parse, so a
//! key misspelt in a file or env var is an error rather than silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use voiceprint_voiceid::{Quotas, ServiceConfig};

use crate::error::ServeError;

/// The compiled-in defaults (every key, commented).
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub store: StoreSection,
    pub auth: AuthSection,
    pub aws: AwsSection,
    pub voiceid: VoiceIdSection,
    pub quotas: QuotasSection,
    pub throttling: ThrottlingSection,
    pub engine: EngineSection,
    pub sessions: SessionsSection,
    pub jobs: JobsSection,
    pub antispoof: AntispoofSection,
    pub audiosocket: AudioSocketSection,
    pub audiohook: AudioHookSection,
    pub siprec: SiprecSection,
    pub log: LogSection,
}

/// `[store]`: where records live.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Empty = SQLite in the data directory; else a PostgreSQL connection string.
    pub database_url: String,
}

// The connection string may carry a password: show only which backend it is.
impl std::fmt::Debug for StoreSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = if self.database_url.is_empty() {
            "sqlite (data_dir)"
        } else {
            "postgresql (<redacted url>)"
        };
        f.debug_struct("StoreSection")
            .field("database_url", &backend)
            .finish()
    }
}

/// `[engine]`: the speaker model.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub model: String,
    pub models_dir: PathBuf,
    /// Fusion file from `voiceprint fusion fit` (empty: the shipped fusion).
    pub fusion_file: PathBuf,
    /// S-normalise authentication against a domain's own enrolled speakers once it has
    /// enough of them.
    pub domain_cohort: bool,
    /// Domain fusion file (`voiceprint fusion fit --domain-cohort`; empty: the shipped one).
    pub domain_fusion_file: PathBuf,
    pub workers: usize,
    pub required: bool,
}

impl EngineSection {
    /// The scoring part of the section as the speaker model takes it.
    pub fn scoring_options(&self) -> voiceprint_voiceid::biometrics::ScoringOptions {
        let file = |p: &PathBuf| (!p.as_os_str().is_empty()).then(|| p.clone());
        voiceprint_voiceid::biometrics::ScoringOptions {
            fusion_file: file(&self.fusion_file),
            domain_cohort: self.domain_cohort,
            domain_fusion_file: file(&self.domain_fusion_file),
        }
    }
}

/// `[sessions]`: live call sessions and their audio streams.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionsSection {
    pub max_active_streams_per_domain: usize,
    pub max_audio_seconds: f64,
    pub idle_timeout_seconds: f64,
    pub ended_ttl_seconds: f64,
    pub segment_seconds: f64,
    pub max_embedded_speech_seconds: f64,
    pub spoof_scored_speech_seconds: f64,
}

impl SessionsSection {
    /// The limits as the session layer takes them.
    pub fn limits(&self) -> voiceprint_voiceid::sessions::SessionLimits {
        voiceprint_voiceid::sessions::SessionLimits {
            max_active_streams_per_domain: self.max_active_streams_per_domain,
            max_audio_seconds: self.max_audio_seconds,
            idle_timeout_seconds: self.idle_timeout_seconds,
            ended_ttl_seconds: self.ended_ttl_seconds,
            segment_seconds: self.segment_seconds,
            max_embedded_speech_seconds: self.max_embedded_speech_seconds,
        }
    }
}

/// `[jobs]`: batch jobs and the object store they read and write.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    pub workers: usize,
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    pub s3_allow_http: bool,
    pub paused: bool,
    pub min_speech_seconds: f64,
    pub max_audio_bytes: u64,
    pub max_manifest_bytes: u64,
    pub default_fraudster_similarity_threshold: u8,
    /// Empty = `file://` refused.
    pub file_root: PathBuf,
    /// This node's name in job leases (empty = host/listen/data_dir).
    pub node_id: String,
    /// Seconds a job lease lasts without renewal (takeover time after a node dies).
    pub lease_seconds: f64,
}

// The object-store secret never reaches logs or --print-config.
impl std::fmt::Debug for JobsSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobsSection")
            .field("workers", &self.workers)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &if self.s3_secret_access_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("s3_allow_http", &self.s3_allow_http)
            .field("paused", &self.paused)
            .field("min_speech_seconds", &self.min_speech_seconds)
            .field("max_audio_bytes", &self.max_audio_bytes)
            .field("max_manifest_bytes", &self.max_manifest_bytes)
            .field(
                "default_fraudster_similarity_threshold",
                &self.default_fraudster_similarity_threshold,
            )
            .field("file_root", &self.file_root)
            .field("node_id", &self.node_id)
            .field("lease_seconds", &self.lease_seconds)
            .finish()
    }
}

/// `[antispoof]`: the voice-spoofing countermeasure.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AntispoofSection {
    pub enabled: bool,
    pub asvspoof2019_dir: PathBuf,
    pub asvspoof5_dir: PathBuf,
}

/// `[audiosocket]`: the Asterisk AudioSocket TCP listener (docs/TELEPHONY.md).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AudioSocketSection {
    /// `host:port`; empty = off.
    pub listen: String,
    pub domain_id: String,
    pub max_frame_bytes: usize,
}

/// `[audiohook]`: Genesys Cloud AudioHook at `GET /v1/audiohook`.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AudioHookSection {
    pub enabled: bool,
    pub domain_id: String,
    /// Accepted `X-API-KEY` values.
    pub api_keys: Vec<String>,
    /// `ani`, `none`, `input:<Name>` (inputVariables) or `custom:<Name>` (customConfig).
    pub customer_id_from: String,
    /// Decisions go back as AudioHook `event` messages.
    pub send_events: bool,
}

impl std::fmt::Debug for AudioHookSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioHookSection")
            .field("enabled", &self.enabled)
            .field("domain_id", &self.domain_id)
            .field("api_keys", &format!("<{} redacted>", self.api_keys.len()))
            .field("customer_id_from", &self.customer_id_from)
            .field("send_events", &self.send_events)
            .finish()
    }
}

/// `[siprec]`: the SIPREC recording server (SIP over UDP and TCP, RTP over UDP).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SiprecSection {
    /// `host:port` for SIP over UDP and TCP; empty = off.
    pub listen: String,
    pub domain_id: String,
    /// Address RTP binds to and SDP advertises.
    pub rtp_ip: String,
    /// RTP port range; 0 and 0 = ports the OS picks.
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    pub rtp_timeout_seconds: f64,
    /// `none`, `caller_aor_user` or `header:<Name>`.
    pub customer_id_from: String,
    pub max_calls: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThrottlingSection {
    pub enabled: bool,
    pub evaluate_session_tps: f64,
    pub domain_tps: f64,
    pub batch_job_tps: f64,
    pub list_speakers_tps: f64,
    pub speaker_fraudster_tps: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    pub shutdown_grace_seconds: u64,
}

#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    pub enabled: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AuthSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSection")
            .field("enabled", &self.enabled)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &if self.secret_access_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    pub region: String,
    pub account_id: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VoiceIdSection {
    pub speaker_expiry_days: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuotasSection {
    pub domains: u64,
    pub watchlists_per_domain: u64,
    pub fraudsters_per_watchlist: u64,
    pub speakers_per_domain: u64,
    pub active_speaker_enrollment_jobs_per_domain: u64,
    pub active_fraudster_registration_jobs_per_domain: u64,
    pub tags_per_resource: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub filter: String,
}

/// Overrides from command-line flags (the last layer).
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub no_auth: bool,
    pub database_url: Option<String>,
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Parse an env value as a TOML scalar (number, bool, array), else a string.
fn env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

impl Config {
    /// Load all layers. `env` is the process environment (injected for tests).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &FlagOverrides,
    ) -> Result<Config, ServeError> {
        let mut table: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e| ServeError::Config(format!("embedded defaults: {e}")))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))?;
            let over: toml::Table = text
                .parse()
                .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))?;
            merge(&mut table, over);
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("VOICEPRINT__") else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let [section, name] = parts.as_slice() else {
                return Err(ServeError::Config(format!(
                    "{key}: expected VOICEPRINT__SECTION__KEY"
                )));
            };
            let mut over = toml::Table::new();
            let mut inner = toml::Table::new();
            inner.insert(name.clone(), env_value(&value));
            over.insert(section.clone(), toml::Value::Table(inner));
            merge(&mut table, over);
        }
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ServeError::Config(e.message().to_string()))?;
        if let Some(listen) = flags.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &flags.data_dir {
            config.server.data_dir = dir.clone();
        }
        if flags.no_auth {
            config.auth.enabled = false;
        }
        if let Some(url) = &flags.database_url {
            config.store.database_url = url.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ServeError> {
        let bad = |m: &str| Err(ServeError::Config(m.into()));
        if self.server.max_body_bytes < 1024 {
            return bad("server.max_body_bytes must be at least 1024");
        }
        if self.aws.account_id.len() != 12
            || !self.aws.account_id.bytes().all(|b| b.is_ascii_digit())
        {
            return bad("aws.account_id must be 12 digits");
        }
        if self.aws.region.is_empty() || self.aws.region.contains(':') {
            return bad("aws.region must be a region name such as us-east-1");
        }
        if self.auth.access_key_id.is_empty() != self.auth.secret_access_key.is_empty() {
            return bad("auth.access_key_id and auth.secret_access_key must be set together");
        }
        if !["fusion", "campplus", "ge2e"].contains(&self.engine.model.to_ascii_lowercase().as_str()) {
            return bad("engine.model must be \"fusion\", \"campplus\" or \"ge2e\"");
        }
        let sessions = &self.sessions;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if sessions.max_active_streams_per_domain == 0
            || !positive(sessions.max_audio_seconds)
            || !positive(sessions.idle_timeout_seconds)
            || !positive(sessions.ended_ttl_seconds)
            || !positive(sessions.segment_seconds)
            || !positive(sessions.max_embedded_speech_seconds)
            || sessions.spoof_scored_speech_seconds.is_nan()
            || sessions.spoof_scored_speech_seconds < 0.0
        {
            return bad("sessions limits must be positive");
        }
        if self.jobs.min_speech_seconds.is_nan()
            || self.jobs.min_speech_seconds < 0.0
            || self.jobs.default_fraudster_similarity_threshold > 100
        {
            return bad("jobs.min_speech_seconds must be >= 0 and jobs.default_fraudster_similarity_threshold 0-100");
        }
        if self.jobs.s3_access_key_id.is_empty() != self.jobs.s3_secret_access_key.is_empty() {
            return bad("jobs.s3_access_key_id and jobs.s3_secret_access_key must be set together");
        }
        if self.voiceid.speaker_expiry_days <= 0.0 || self.voiceid.speaker_expiry_days.is_nan() {
            return bad("voiceid.speaker_expiry_days must be positive");
        }
        self.validate_telephony()?;
        let t = &self.throttling;
        if [
            t.evaluate_session_tps,
            t.domain_tps,
            t.batch_job_tps,
            t.list_speakers_tps,
            t.speaker_fraudster_tps,
        ]
        .iter()
        .any(|r| *r <= 0.0 || r.is_nan())
        {
            return bad("throttling rates must be positive");
        }
        Ok(())
    }

    /// `[audiosocket]`, `[audiohook]`, `[siprec]`: a listener that is on needs a domain.
    fn validate_telephony(&self) -> Result<(), ServeError> {
        let bad = |m: String| Err(ServeError::Config(m));
        let domain_ok = |d: &str| voiceprint_voiceid::ids::is_id22(d);
        for (section, listen, domain) in [
            (
                "audiosocket",
                &self.audiosocket.listen,
                &self.audiosocket.domain_id,
            ),
            ("siprec", &self.siprec.listen, &self.siprec.domain_id),
        ] {
            if listen.is_empty() {
                continue;
            }
            if listen.parse::<SocketAddr>().is_err() {
                return bad(format!(
                    "{section}.listen must be host:port (e.g. 127.0.0.1:9092)"
                ));
            }
            if !domain_ok(domain) {
                return bad(format!(
                    "{section}.domain_id must be a 22-character DomainId"
                ));
            }
        }
        let hook = &self.audiohook;
        if hook.enabled
            && (!domain_ok(&hook.domain_id) || hook.api_keys.iter().all(String::is_empty))
        {
            return bad(
                "audiohook.enabled needs audiohook.domain_id and at least one api_keys entry"
                    .into(),
            );
        }
        let rule = &hook.customer_id_from;
        if !(rule == "ani"
            || rule == "none"
            || rule.starts_with("input:")
            || rule.starts_with("custom:"))
        {
            return bad(
                "audiohook.customer_id_from must be ani, none, input:<Name> or custom:<Name>"
                    .into(),
            );
        }
        let sip = &self.siprec;
        if voiceprint_telephony::sip::dialog::CustomerRule::parse(&sip.customer_id_from).is_err() {
            return bad(
                "siprec.customer_id_from must be none, caller_aor_user or header:<Name>".into(),
            );
        }
        if sip.rtp_port_min > sip.rtp_port_max
            || (sip.rtp_port_min == 0) != (sip.rtp_port_max == 0)
            || !(sip.rtp_timeout_seconds.is_finite() && sip.rtp_timeout_seconds > 0.0)
            || sip.max_calls == 0
            || sip.rtp_ip.parse::<std::net::IpAddr>().is_err()
            || self.audiosocket.max_frame_bytes < 320
        {
            return bad("siprec: rtp_port_min <= rtp_port_max (both 0 or both set), rtp_timeout_seconds > 0, max_calls > 0, rtp_ip an IP address; audiosocket.max_frame_bytes >= 320".into());
        }
        Ok(())
    }

    /// The Voice ID rules' settings.
    pub fn service_config(&self) -> ServiceConfig {
        let q = &self.quotas;
        ServiceConfig {
            region: self.aws.region.clone(),
            account_id: self.aws.account_id.clone(),
            speaker_expiry_seconds: self.voiceid.speaker_expiry_days * 86_400.0,
            quotas: Quotas {
                domains: q.domains,
                watchlists_per_domain: q.watchlists_per_domain,
                fraudsters_per_watchlist: q.fraudsters_per_watchlist,
                speakers_per_domain: q.speakers_per_domain,
                active_speaker_enrollment_jobs_per_domain: q
                    .active_speaker_enrollment_jobs_per_domain,
                active_fraudster_registration_jobs_per_domain: q
                    .active_fraudster_registration_jobs_per_domain,
                tags_per_resource: q.tags_per_resource,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_voice_id_and_layers_override_in_order() {
        let c = Config::load(None, Vec::new(), &FlagOverrides::default()).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:7700".parse().unwrap());
        assert!(c.auth.enabled);
        assert_eq!(c.service_config().quotas, Quotas::default());
        assert_eq!(
            c.service_config().speaker_expiry_seconds,
            voiceprint_voiceid::THREE_YEARS_SECONDS
        );

        let dir = std::env::temp_dir().join(format!("vp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\nmax_body_bytes = 4096\n[quotas]\ndomains = 7\n",
        )
        .unwrap();
        let env = vec![
            (
                "VOICEPRINT__SERVER__MAX_BODY_BYTES".to_string(),
                "8192".to_string(),
            ),
            (
                "VOICEPRINT__AWS__REGION".to_string(),
                "eu-west-2".to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: None,
            no_auth: true,
            database_url: Some("postgres://vp:hunter2@db:5432/vp".into()),
        };
        let c = Config::load(Some(&file), env, &flags).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:0".parse().unwrap()); // flag beats file
        assert_eq!(c.server.max_body_bytes, 8192); // env beats file
        assert_eq!(c.quotas.domains, 7); // file beats defaults
        assert_eq!(c.aws.region, "eu-west-2");
        assert!(!c.auth.enabled);
        // The database URL comes from the flag and never shows its password.
        assert_eq!(c.store.database_url, "postgres://vp:hunter2@db:5432/vp");
        assert!(!format!("{c:?}").contains("hunter2"));

        let typo = vec![("VOICEPRINT__SERVER__LISTN".to_string(), "x".to_string())];
        assert!(Config::load(None, typo, &FlagOverrides::default()).is_err());
        let secret = vec![
            (
                "VOICEPRINT__AUTH__ACCESS_KEY_ID".to_string(),
                "AKIDEXAMPLE".to_string(),
            ),
            (
                "VOICEPRINT__AUTH__SECRET_ACCESS_KEY".to_string(),
                "s3cr3t-value".to_string(),
            ),
        ];
        let c = Config::load(None, secret, &FlagOverrides::default()).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn telephony_listeners_are_off_by_default_and_checked_when_on() {
        let c = Config::load(None, Vec::new(), &FlagOverrides::default()).unwrap();
        assert!(c.audiosocket.listen.is_empty() && c.siprec.listen.is_empty());
        assert!(!c.audiohook.enabled);
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (format!("VOICEPRINT__{k}"), v.to_string()))
                .collect()
        };
        let domain = "abcdefghijklmnopqrstuv";
        let on = env(&[
            ("AUDIOSOCKET__LISTEN", "127.0.0.1:0"),
            ("AUDIOSOCKET__DOMAIN_ID", domain),
            ("AUDIOHOOK__ENABLED", "true"),
            ("AUDIOHOOK__DOMAIN_ID", domain),
            ("AUDIOHOOK__API_KEYS", "[\"k1\", \"k2\"]"),
            ("SIPREC__LISTEN", "127.0.0.1:5060"),
            ("SIPREC__DOMAIN_ID", domain),
            ("SIPREC__CUSTOMER_ID_FROM", "header:X-Customer-Id"),
        ]);
        let c = Config::load(None, on, &FlagOverrides::default()).unwrap();
        assert_eq!(c.audiosocket.listen, "127.0.0.1:0");
        assert_eq!(c.audiohook.api_keys, vec!["k1", "k2"]);
        assert!(!format!("{c:?}").contains("k2"), "API keys never printed");
        for bad in [
            &[("AUDIOSOCKET__LISTEN", "127.0.0.1:0")][..], // no domain
            &[("SIPREC__LISTEN", "nowhere"), ("SIPREC__DOMAIN_ID", domain)],
            &[
                ("AUDIOHOOK__ENABLED", "true"),
                ("AUDIOHOOK__DOMAIN_ID", domain),
            ], // no keys
            &[("AUDIOHOOK__CUSTOMER_ID_FROM", "email")],
            &[("SIPREC__CUSTOMER_ID_FROM", "header:")],
            &[("SIPREC__RTP_PORT_MIN", "30000")], // max still 0
            &[("SIPREC__RTP_IP", "localhost")],
        ] {
            assert!(
                Config::load(None, env(bad), &FlagOverrides::default()).is_err(),
                "{bad:?}"
            );
        }
    }
}
