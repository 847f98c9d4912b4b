//! Settings of the Voice ID domain rules: identity of this "region", quotas, expiry.

/// Quotas, defaulting to Amazon Voice ID's (voiceid-api.md §3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Quotas {
    pub domains: u64,
    pub watchlists_per_domain: u64,
    pub fraudsters_per_watchlist: u64,
    pub speakers_per_domain: u64,
    pub active_speaker_enrollment_jobs_per_domain: u64,
    pub active_fraudster_registration_jobs_per_domain: u64,
    pub tags_per_resource: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            domains: 3,
            watchlists_per_domain: 3,
            fraudsters_per_watchlist: 500,
            speakers_per_domain: 100_000,
            active_speaker_enrollment_jobs_per_domain: 1,
            active_fraudster_registration_jobs_per_domain: 1,
            tags_per_resource: 50,
        }
    }
}

/// Everything [`crate::VoiceIdService`] needs besides its store.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Region and account that appear in domain ARNs.
    pub region: String,
    pub account_id: String,
    /// A speaker not accessed for this long is reported EXPIRED (Voice ID: 3 years).
    pub speaker_expiry_seconds: f64,
    pub quotas: Quotas,
}

/// Three years of 365 days, Voice ID's speaker expiry.
pub const THREE_YEARS_SECONDS: f64 = 3.0 * 365.0 * 24.0 * 3600.0;

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            speaker_expiry_seconds: THREE_YEARS_SECONDS,
            quotas: Quotas::default(),
        }
    }
}
