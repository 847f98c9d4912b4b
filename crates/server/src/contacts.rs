//! Contacts: Amazon Connect flows run for their Voice ID blocks, and the agent's
//! Voice ID actions (extension operations StartContact, DescribeContact,
//! AgentAction; docs/FLOWS.md).
//!
//! A contact is one call. StartContact loads its flow (`voiceprint-flows`),
//! runs it until the first `Wait` or the end, and keeps running it in the
//! background; its id is the session name, so the call's audio streams into the
//! contact's session through the session endpoints (WebSocket, Twilio, HTTP POST)
//! and the flow's Check Voice ID blocks see results as speech arrives.
//! [`SessionPort`] is the bridge: the flow's Voice ID calls become session
//! operations on [`VoiceIdService`].
//!
//! Contacts live in memory (a restart forgets running flows; their sessions and
//! results persist); ended contacts are forgotten after the sessions' result TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use voiceprint_flows::run::{authentication_operand, fraud_operand};
use voiceprint_flows::{
    Channel, Contact, Evaluation, Execution, Finish, Flow, Pause, TraceStep, VoiceIdPort,
};
use voiceprint_voiceid::types::{
    AuthenticationConfiguration, EnrollBySessionRequest, EvaluateSessionRequest,
    FraudDetectionConfiguration, SessionRequest, SpeakerRequest, StartSessionRequest,
    StreamingConfiguration, UpdateSessionRequest,
};
use voiceprint_voiceid::{Error as VoiceIdError, ResourceType, VoiceIdService};

/// Most contacts kept in memory at once (running or recently ended).
pub const MAX_CONTACTS: usize = 10_000;

/// `StartContact` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartContactRequest {
    pub domain_id: String,
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The flow-language JSON, as text.
    pub flow_json: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub attributes: Option<HashMap<String, String>>,
    #[serde(default)]
    pub customer_id: Option<String>,
}

/// `DescribeContact` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeContactRequest {
    pub domain_id: String,
    pub contact_id: String,
}

/// `AgentAction` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentActionRequest {
    pub domain_id: String,
    pub contact_id: String,
    pub action: String,
    #[serde(default)]
    pub speaker_id: Option<String>,
    #[serde(default)]
    pub start_new: Option<bool>,
}

/// A contact as DescribeContact shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactDescription {
    pub contact_id: String,
    pub domain_id: String,
    pub channel: Channel,
    /// RUNNING | WAITING | ENDED.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<Finish>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub attributes: std::collections::BTreeMap<String, String>,
    pub voice_id: voiceprint_flows::VoiceIdSettings,
    pub trace: Vec<TraceStep>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactResponse {
    pub contact: ContactDescription,
}

/// `AgentAction` output: Streams resolves or rejects with a `VoiceIdError{type}`;
/// here `Status` is SUCCEEDED or FAILED and `ErrorType` carries that type.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentActionResponse {
    pub action: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraud_detection_decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_status: Option<String>,
}

/// The flow's Voice ID calls, made on the contact's session.
pub struct SessionPort {
    service: Arc<VoiceIdService>,
    domain_id: String,
    /// A watchlist the flow named that the domain does not have: the stream
    /// starts without it and the next check fails (Connect's documented order).
    missing_watchlist: Option<String>,
}

/// An enum's name as the API spells it (e.g. `ENROLLED`), from its serde form.
fn wire_name<T: Serialize>(value: T) -> Option<String> {
    serde_json::to_value(value)
        .ok()?
        .as_str()
        .map(str::to_owned)
}

fn message(e: &VoiceIdError) -> String {
    format!("{}: {e}", e.aws_type())
}

impl SessionPort {
    fn configs(
        contact: &Contact,
        watchlist: Option<String>,
    ) -> (
        AuthenticationConfiguration,
        FraudDetectionConfiguration,
        StreamingConfiguration,
    ) {
        let s = &contact.voice_id;
        (
            AuthenticationConfiguration {
                acceptance_threshold: s.acceptance_threshold,
            },
            FraudDetectionConfiguration {
                risk_threshold: Some(s.risk_threshold),
                watchlist_id: watchlist,
            },
            StreamingConfiguration {
                authentication_minimum_speech_in_seconds: s.response_time_seconds,
            },
        )
    }

    fn is_missing_watchlist(e: &VoiceIdError) -> bool {
        matches!(
            e,
            VoiceIdError::ResourceNotFound {
                resource_type: ResourceType::Watchlist,
                ..
            }
        )
    }

    /// The caller's speaker id by the domain's identification rule
    /// (docs/ENGINE-CONDITIONS.md): the contact's CustomerId by default, or the
    /// contact attribute the domain's `IdentificationAttribute` names.
    fn identified_speaker(&self, contact: &Contact) -> Option<String> {
        match self.service.engine_settings(&self.domain_id) {
            Ok(s) if s.identification_attribute != "CustomerId" => {
                contact.attributes.get(&s.identification_attribute).cloned()
            }
            _ => contact.customer_id.clone(),
        }
    }

    fn update(&mut self, contact: &Contact, watchlist: Option<String>) -> Result<(), VoiceIdError> {
        let (auth, fraud, streaming) = Self::configs(contact, watchlist);
        self.service
            .update_session(UpdateSessionRequest {
                domain_id: self.domain_id.clone(),
                session_name_or_id: contact.contact_id.clone(),
                speaker_id: self.identified_speaker(contact),
                authentication_configuration: Some(auth),
                fraud_detection_configuration: Some(fraud),
                streaming_configuration: Some(streaming),
            })
            .map(|_| ())
    }
}

impl VoiceIdPort for SessionPort {
    fn start_stream(&mut self, contact: &Contact) -> Result<(), String> {
        let speaker_id = self.identified_speaker(contact);
        let start = |watchlist: Option<String>| {
            let (auth, fraud, streaming) = Self::configs(contact, watchlist);
            self.service.start_session(StartSessionRequest {
                domain_id: self.domain_id.clone(),
                session_name: contact.contact_id.clone(),
                speaker_id: speaker_id.clone(),
                authentication_configuration: Some(auth),
                fraud_detection_configuration: Some(fraud),
                streaming_configuration: Some(streaming),
            })
        };
        let watchlist = contact.voice_id.watchlist_id.clone();
        match start(watchlist.clone()) {
            Ok(_) => Ok(()),
            Err(e) if Self::is_missing_watchlist(&e) => {
                self.missing_watchlist = watchlist;
                start(None).map(|_| ()).map_err(|e| message(&e))
            }
            // The caller's audio may have opened the session first (Twilio): join it.
            Err(VoiceIdError::Conflict { .. }) => match self.update(contact, watchlist.clone()) {
                Err(e) if Self::is_missing_watchlist(&e) => {
                    self.missing_watchlist = watchlist;
                    self.update(contact, None).map_err(|e| message(&e))
                }
                other => other.map_err(|e| message(&e)),
            },
            Err(e) => Err(message(&e)),
        }
    }

    fn update_session(&mut self, contact: &Contact) -> Result<(), String> {
        let watchlist = contact.voice_id.watchlist_id.clone();
        match self.update(contact, watchlist.clone()) {
            Ok(()) => {
                self.missing_watchlist = None;
                Ok(())
            }
            Err(e) if Self::is_missing_watchlist(&e) => {
                self.missing_watchlist = watchlist;
                self.update(contact, None).map_err(|e| message(&e))
            }
            Err(e) => Err(message(&e)),
        }
    }

    fn speaker_status(&mut self, contact: &Contact) -> Result<Option<String>, String> {
        let Some(customer_id) = &contact.customer_id else {
            return Ok(None);
        };
        match self.service.describe_speaker(SpeakerRequest {
            domain_id: self.domain_id.clone(),
            speaker_id: customer_id.clone(),
        }) {
            Ok(r) => Ok(Some(wire_name(r.speaker.status).unwrap_or_default())),
            Err(VoiceIdError::ResourceNotFound {
                resource_type: ResourceType::Speaker,
                ..
            }) => Ok(None),
            Err(e) => Err(message(&e)),
        }
    }

    fn evaluate(&mut self, contact: &Contact) -> Result<Evaluation, String> {
        if let Some(w) = &self.missing_watchlist {
            return Err(format!(
                "ResourceNotFoundException: watchlist {w} does not exist in this domain"
            ));
        }
        let r = self
            .service
            .evaluate_session(EvaluateSessionRequest {
                domain_id: self.domain_id.clone(),
                session_name_or_id: contact.contact_id.clone(),
            })
            .map_err(|e| message(&e))?;
        let decision = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .and_then(|v| v.get("Decision"))
                .and_then(|d| d.as_str())
                .map(str::to_owned)
        };
        Ok(Evaluation {
            authentication_decision: decision(&r.authentication_result),
            fraud_detection_decision: decision(&r.fraud_detection_result),
            engine_conditions: r.engine_conditions.map(|c| c.conditions).unwrap_or_default(),
        })
    }
}

/// One contact's flow run.
struct ContactRun {
    domain_id: String,
    execution: Execution,
    port: SessionPort,
    waiting: bool,
    ended_at: Option<Instant>,
}

impl ContactRun {
    fn describe(&self) -> ContactDescription {
        let c = &self.execution.contact;
        let finish = self.execution.finished().cloned();
        ContactDescription {
            contact_id: c.contact_id.clone(),
            domain_id: self.domain_id.clone(),
            channel: c.channel,
            status: if finish.is_some() {
                "ENDED"
            } else if self.waiting {
                "WAITING"
            } else {
                "RUNNING"
            },
            finish_reason: finish,
            customer_id: c.customer_id.clone(),
            attributes: c.attributes.clone(),
            voice_id: c.voice_id.clone(),
            trace: self.execution.trace().to_vec(),
        }
    }
}

type ContactKey = (String, String);

/// The running contacts of this node.
pub struct ContactCenter {
    service: Arc<VoiceIdService>,
    contacts: Mutex<HashMap<ContactKey, Arc<Mutex<ContactRun>>>>,
    /// How long ended contacts stay describable.
    ended_ttl: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ContactCenter {
    pub fn new(service: Arc<VoiceIdService>, ended_ttl: Duration) -> Arc<ContactCenter> {
        Arc::new(ContactCenter {
            service,
            contacts: Mutex::new(HashMap::new()),
            ended_ttl,
        })
    }

    fn get(
        &self,
        domain_id: &str,
        contact_id: &str,
    ) -> Result<Arc<Mutex<ContactRun>>, VoiceIdError> {
        lock(&self.contacts)
            .get(&(domain_id.to_owned(), contact_id.to_owned()))
            .cloned()
            .ok_or_else(|| VoiceIdError::ResourceNotFound {
                resource_type: ResourceType::Session,
                message: "The contact does not exist (or ended long ago)".into(),
            })
    }

    /// StartContact: validates, runs the flow to its first pause (blocking: call
    /// from a blocking thread), and returns the contact and whether it waits.
    pub fn start(
        self: &Arc<Self>,
        req: StartContactRequest,
    ) -> Result<(ContactResponse, Option<u64>), VoiceIdError> {
        // The domain must exist before anything runs.
        self.service
            .describe_domain(voiceprint_voiceid::types::DomainIdRequest {
                domain_id: req.domain_id.clone(),
            })?;
        let flow = Flow::from_json(&req.flow_json)
            .map_err(|e| VoiceIdError::Validation(format!("FlowJson: {e}")))?;
        let channel: Channel = req
            .channel
            .as_deref()
            .unwrap_or("VOICE")
            .parse()
            .map_err(VoiceIdError::Validation)?;
        let contact_id = req
            .contact_id
            .clone()
            .unwrap_or_else(voiceprint_voiceid::ids::new_id22);
        let mut contact = Contact::new(contact_id.clone(), channel);
        contact
            .attributes
            .extend(req.attributes.clone().unwrap_or_default());
        contact.customer_id = req.customer_id.clone();
        let run = Arc::new(Mutex::new(ContactRun {
            domain_id: req.domain_id.clone(),
            execution: Execution::new(Arc::new(flow), contact),
            port: SessionPort {
                service: self.service.clone(),
                domain_id: req.domain_id.clone(),
                missing_watchlist: None,
            },
            waiting: false,
            ended_at: None,
        }));
        {
            let mut contacts = lock(&self.contacts);
            let now = Instant::now();
            contacts.retain(|_, r| {
                lock(r)
                    .ended_at
                    .is_none_or(|t| now.duration_since(t) < self.ended_ttl)
            });
            let key = (req.domain_id.clone(), contact_id);
            if contacts.contains_key(&key) {
                return Err(VoiceIdError::Conflict {
                    conflict_type: voiceprint_voiceid::ConflictType::AnotherActiveStream,
                    message: "A contact with this ContactId is already running".into(),
                });
            }
            if contacts.len() >= MAX_CONTACTS {
                return Err(VoiceIdError::ServiceQuotaExceeded(
                    "Too many contacts on this node".into(),
                ));
            }
            contacts.insert(key, run.clone());
        }
        let wait = Self::step(&run, false);
        let description = lock(&run).describe();
        Ok((
            ContactResponse {
                contact: description,
            },
            wait,
        ))
    }

    /// Runs (or resumes after a Wait) until the next pause; returns the seconds of
    /// the Wait it stopped at, if any.
    fn step(run: &Mutex<ContactRun>, resume: bool) -> Option<u64> {
        let mut guard = lock(run);
        let r = &mut *guard;
        let pause = if resume {
            r.execution.resume(&mut r.port)
        } else {
            r.execution.run(&mut r.port)
        };
        match pause {
            Pause::Waiting { seconds, .. } => {
                r.waiting = true;
                Some(seconds)
            }
            Pause::Finished { reason } => {
                r.waiting = false;
                r.ended_at = Some(Instant::now());
                if reason == Finish::Disconnected {
                    // The caller hung up: the session's stream ends with the call.
                    let session = SessionRequest {
                        domain_id: r.domain_id.clone(),
                        session_name_or_id: r.execution.contact.contact_id.clone(),
                    };
                    let _ = r.port.service.end_session(session, &Default::default());
                }
                None
            }
        }
    }

    /// Keeps a contact's flow running in the background: sleeps through each Wait
    /// (audio keeps arriving meanwhile) and resumes.
    pub fn drive(self: &Arc<Self>, domain_id: String, contact_id: String, first_wait: u64) {
        let Ok(run) = self.get(&domain_id, &contact_id) else {
            return;
        };
        tokio::spawn(async move {
            let mut wait = Some(first_wait);
            while let Some(seconds) = wait {
                tokio::time::sleep(Duration::from_secs(seconds)).await;
                let run = run.clone();
                wait = match tokio::task::spawn_blocking(move || Self::step(&run, true)).await {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!(error = %e, "contact flow step failed");
                        None
                    }
                };
            }
        });
    }

    pub fn describe(&self, req: DescribeContactRequest) -> Result<ContactResponse, VoiceIdError> {
        let run = self.get(&req.domain_id, &req.contact_id)?;
        let description = lock(&run).describe();
        Ok(ContactResponse {
            contact: description,
        })
    }

    /// AgentAction (blocking): the amazon-connect-streams VoiceConnection methods.
    pub fn agent_action(
        &self,
        req: AgentActionRequest,
    ) -> Result<AgentActionResponse, VoiceIdError> {
        let run = self.get(&req.domain_id, &req.contact_id)?;
        let customer_id = lock(&run).execution.contact.customer_id.clone();
        let out = session_agent_action(&self.service, &req, customer_id)?;
        if req.action == "updateSpeakerId" && out.status == "SUCCEEDED" {
            lock(&run).execution.contact.customer_id = out.speaker_id.clone();
        }
        Ok(out)
    }

    /// Whether a contact with this id runs (or recently ran) in the domain.
    pub fn has_contact(&self, domain_id: &str, contact_id: &str) -> bool {
        self.get(domain_id, contact_id).is_ok()
    }
}

/// The agent's action on the session named `req.contact_id`, whose customer is
/// `customer_id` (blocking). [`ContactCenter::agent_action`] runs it for contacts;
/// the agent page (`crate::agent`) for sessions no contact runs.
pub fn session_agent_action(
    service: &VoiceIdService,
    req: &AgentActionRequest,
    customer_id: Option<String>,
) -> Result<AgentActionResponse, VoiceIdError> {
    let mut out = AgentActionResponse {
        action: req.action.clone(),
        status: "SUCCEEDED",
        ..Default::default()
    };
    let fail = |mut out: AgentActionResponse, error_type: &'static str, message: String| {
        out.status = "FAILED";
        out.error_type = Some(error_type);
        out.message = Some(message);
        Ok(out)
    };
    let (domain_id, contact_id) = (req.domain_id.clone(), req.contact_id.clone());
    let session_missing = |e: &VoiceIdError| {
        matches!(
            e,
            VoiceIdError::ResourceNotFound {
                resource_type: ResourceType::Session,
                ..
            }
        )
    };
    match req.action.as_str() {
        "getSpeakerId" => match customer_id {
            Some(id) => out.speaker_id = Some(id),
            None => {
                return fail(
                    out,
                    "no_speaker_id_found",
                    "the contact has no CustomerId".into(),
                )
            }
        },
        "getSpeakerStatus" => {
            let Some(id) = customer_id else {
                return fail(
                    out,
                    "no_speaker_id_found",
                    "the contact has no CustomerId".into(),
                );
            };
            out.speaker_id = Some(id.clone());
            match service.describe_speaker(SpeakerRequest {
                domain_id: domain_id.clone(),
                speaker_id: id,
            }) {
                Ok(r) => out.speaker_status = wire_name(r.speaker.status),
                // Streams resolves (not rejects) for an unknown speaker, with this type.
                Err(VoiceIdError::ResourceNotFound { .. }) => {
                    out.error_type = Some("speaker_id_not_enrolled");
                    out.message = Some("no speaker has this CustomerId".into());
                }
                Err(e) => return fail(out, "get_speaker_status_failed", message(&e)),
            }
        }
        "updateSpeakerId" => {
            let Some(id) = req.speaker_id.clone() else {
                return Err(VoiceIdError::Validation(
                    "updateSpeakerId needs SpeakerId".into(),
                ));
            };
            let result = service.update_session(UpdateSessionRequest {
                domain_id: domain_id.clone(),
                session_name_or_id: contact_id.clone(),
                speaker_id: Some(id.clone()),
                authentication_configuration: None,
                fraud_detection_configuration: None,
                streaming_configuration: None,
            });
            match result {
                Ok(_) => out.speaker_id = Some(id),
                Err(e) if session_missing(&e) => {
                    return fail(out, "session_not_exists", message(&e))
                }
                Err(e) => return fail(out, "update_speaker_id_failed", message(&e)),
            }
        }
        "optOutSpeaker" => {
            let Some(id) = customer_id else {
                return fail(
                    out,
                    "no_speaker_id_found",
                    "the contact has no CustomerId".into(),
                );
            };
            match service.opt_out_speaker(SpeakerRequest {
                domain_id: domain_id.clone(),
                speaker_id: id.clone(),
            }) {
                Ok(r) => {
                    out.speaker_id = Some(id);
                    out.speaker_status = wire_name(r.speaker.status);
                }
                Err(e) => return fail(out, "opt_out_speaker_failed", message(&e)),
            }
        }
        "enrollSpeaker" => {
            let Some(id) = customer_id else {
                return fail(
                    out,
                    "no_speaker_id_found",
                    "the contact has no CustomerId".into(),
                );
            };
            out.speaker_id = Some(id.clone());
            // Streams: an opted-out speaker is deleted first, then enrolled anew.
            if let Ok(r) = service.describe_speaker(SpeakerRequest {
                domain_id: domain_id.clone(),
                speaker_id: id.clone(),
            }) {
                if r.speaker.status == voiceprint_voiceid::types::SpeakerStatus::OptedOut {
                    if let Err(e) = service.delete_speaker(SpeakerRequest {
                        domain_id: domain_id.clone(),
                        speaker_id: id,
                    }) {
                        return fail(out, "enroll_speaker_failed", message(&e));
                    }
                }
            }
            match service.enroll_by_session(EnrollBySessionRequest {
                domain_id: domain_id.clone(),
                session_name_or_id: contact_id.clone(),
                existing_enrollment_action: Some("OVERWRITE".into()),
            }) {
                Ok(r) => {
                    out.enrollment_status = wire_name(r.status);
                    if r.status == voiceprint_voiceid::types::EnrollmentRequestStatus::Failed {
                        return fail(out, "enroll_speaker_failed", r.message.unwrap_or_default());
                    }
                }
                Err(e) if session_missing(&e) => {
                    return fail(out, "session_not_exists", message(&e))
                }
                Err(e) => return fail(out, "enroll_speaker_failed", message(&e)),
            }
        }
        "evaluateSpeaker" => {
            if req.start_new.unwrap_or(false) {
                if let Err(e) =
                    service.start_or_join_session(&domain_id, &contact_id, customer_id.as_deref())
                {
                    return fail(out, "start_session_failed", message(&e));
                }
            }
            match service.evaluate_session(EvaluateSessionRequest {
                domain_id: domain_id.clone(),
                session_name_or_id: contact_id.clone(),
            }) {
                Ok(r) => {
                    // Streams rewrites the decisions to flow values; absent = NotEnabled.
                    let flow_value =
                        |v: &Option<serde_json::Value>, map: fn(&str) -> Option<&'static str>| {
                            match v
                                .as_ref()
                                .and_then(|v| v.get("Decision"))
                                .and_then(|d| d.as_str())
                            {
                                None => "NotEnabled".to_owned(),
                                Some(d) => map(d).unwrap_or("Error").to_owned(),
                            }
                        };
                    out.authentication_decision =
                        Some(flow_value(&r.authentication_result, authentication_operand));
                    out.fraud_detection_decision =
                        Some(flow_value(&r.fraud_detection_result, fraud_operand));
                }
                Err(e) if session_missing(&e) => {
                    return fail(out, "session_not_exists", message(&e))
                }
                Err(e) => return fail(out, "evaluate_speaker_failed", message(&e)),
            }
        }
        other => {
            return Err(VoiceIdError::Validation(format!(
                "unknown agent action {other:?}"
            )))
        }
    }
    Ok(out)
}
