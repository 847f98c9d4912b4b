//! Shared state of the HTTP app.

use std::sync::Arc;

use voiceprint_voiceid::VoiceIdService;

use crate::auth::Authenticator;
use crate::metrics::Metrics;
use crate::throttle::Throttle;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration (sessions, jobs and antispoof sections are read
    /// by their handlers).
    pub config: Arc<crate::config::Config>,
    pub service: Arc<VoiceIdService>,
    /// Contacts running Connect flows (StartContact, AgentAction).
    pub contacts: Arc<crate::contacts::ContactCenter>,
    pub auth: Arc<dyn Authenticator>,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    pub throttle: Arc<Throttle>,
    /// Open audio streams of every ingress (WebSocket, HTTP, AudioSocket, AudioHook, SIPREC).
    pub streams: Arc<crate::stream::StreamHub>,
}
