//! Running a flow for one contact, sans-IO.
//!
//! [`Execution::run`] walks actions until the flow ends or reaches a `Wait`; the
//! caller (the server, a test, the CLI) does the waiting — audio keeps streaming
//! meanwhile — and calls [`Execution::resume`]. Everything Voice ID-specific that
//! needs the real service goes through [`VoiceIdPort`]; the branch rules
//! (voiceid-api.md §2.2–2.5) live here, so they are tested without a server.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::model::{
    is_customer_id, is_watchlist_id, parse_flag, parse_in_range, Action, ActionKind, CheckOption,
    ContactDataUpdate, Flow, Setting,
};

/// Actions one execution may take before it is stopped: a flow that loops
/// forever (e.g. Compare → Compare) must not hang the server.
pub const MAX_STEPS: usize = 1000;

/// The contact's channel. Voice ID works on voice only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Channel {
    Voice,
    Chat,
    Task,
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "VOICE" => Ok(Channel::Voice),
            "CHAT" => Ok(Channel::Chat),
            "TASK" => Ok(Channel::Task),
            _ => Err(format!("channel must be VOICE, CHAT or TASK, got {s:?}")),
        }
    }
}

/// The contact's Voice ID settings, as Set Voice ID leaves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoiceIdSettings {
    pub streaming_started: bool,
    pub authentication_enabled: bool,
    pub fraud_detection_enabled: bool,
    /// 0–100, default 90.
    pub acceptance_threshold: u8,
    /// Seconds of net speech before authentication decides, 5–10, default 10.
    pub response_time_seconds: u8,
    /// 0–100, default 50.
    pub risk_threshold: u8,
    /// None = the domain's default watchlist.
    pub watchlist_id: Option<String>,
}

impl Default for VoiceIdSettings {
    fn default() -> Self {
        VoiceIdSettings {
            streaming_started: false,
            authentication_enabled: false,
            fraud_detection_enabled: false,
            acceptance_threshold: 90,
            response_time_seconds: 10,
            risk_threshold: 50,
            watchlist_id: None,
        }
    }
}

/// A contact as the flow sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Contact {
    pub contact_id: String,
    pub channel: Channel,
    /// System attribute Customer ID: Voice ID's CustomerSpeakerId.
    pub customer_id: Option<String>,
    /// User-defined attributes.
    pub attributes: BTreeMap<String, String>,
    pub voice_id: VoiceIdSettings,
}

impl Contact {
    pub fn new(contact_id: impl Into<String>, channel: Channel) -> Contact {
        Contact {
            contact_id: contact_id.into(),
            channel,
            customer_id: None,
            attributes: BTreeMap::new(),
            voice_id: VoiceIdSettings::default(),
        }
    }

    /// The contact data JSONPaths read from: `$.ContactId`, `$.Channel`,
    /// `$.CustomerId`, `$.Attributes.<name>`, `$.VoiceId.<Setting>`.
    fn data(&self) -> Value {
        json!({
            "ContactId": self.contact_id,
            "Channel": self.channel,
            "CustomerId": self.customer_id,
            "Attributes": self.attributes,
            "VoiceId": self.voice_id,
        })
    }

    /// Resolves a static value or a `$.a.b` path; a path to nothing is None.
    pub fn resolve(&self, setting: &Setting) -> Option<String> {
        match setting {
            Setting::Static(v) => Some(v.clone()),
            Setting::Dynamic(path) => {
                let data = self.data();
                let mut at = &data;
                for part in path.trim_start_matches("$.").split('.') {
                    at = at.get(part)?;
                }
                match at {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                }
            }
        }
    }
}

/// What the Voice ID service answers for a contact's session (EvaluateSession's
/// decisions as the API spells them, e.g. `"ACCEPT"`, `"HIGH_RISK"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub authentication_decision: Option<String>,
    pub fraud_detection_decision: Option<String>,
    /// The call's engine conditions as flow operands (`EngineConditions.Conditions`).
    pub engine_conditions: Vec<String>,
}

/// The Voice ID calls a flow makes. Errors are messages for the trace; the flow
/// takes the action's Error branch.
pub trait VoiceIdPort {
    /// Start streaming the contact's audio into its session with these settings.
    fn start_stream(&mut self, contact: &Contact) -> Result<(), String>;
    /// The settings or CustomerId changed after streaming started.
    fn update_session(&mut self, contact: &Contact) -> Result<(), String>;
    /// The speaker's status (`"ENROLLED"`, `"OPTED_OUT"`, `"PENDING"`, `"EXPIRED"`),
    /// or None when no speaker has the contact's CustomerId.
    fn speaker_status(&mut self, contact: &Contact) -> Result<Option<String>, String>;
    /// EvaluateSession for the contact's session.
    fn evaluate(&mut self, contact: &Contact) -> Result<Evaluation, String>;
}

/// One step of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceStep {
    pub identifier: String,
    #[serde(rename = "Type")]
    pub type_name: String,
    /// The branch taken: `Success`, `Condition:<operand>`, `Error:<ErrorType>`, ...
    pub branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    /// What happened, for people reading the trace (never biometric data).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Where an execution stands after [`Execution::run`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "Status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Pause {
    /// At a `Wait` action: call [`Execution::resume`] after `seconds`.
    Waiting { action: String, seconds: u64 },
    /// The flow is over.
    Finished { reason: Finish },
}

/// Why a flow ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Finish {
    EndFlowExecution,
    Disconnected,
    /// An action had no transition for its outcome (e.g. an error without an
    /// Error branch): Connect drops such a contact too.
    NoTransition,
    /// More than [`MAX_STEPS`] actions: the flow loops.
    StepLimit,
}

/// Internal outcome of one action.
enum Outcome {
    /// Follow `NextAction`.
    Next(String),
    /// The first condition that `value` satisfies, else `NoMatchingCondition`.
    Branch(String),
    /// The first condition that any of the values satisfies (engine conditions:
    /// a call has several at once), else `NoMatchingCondition`.
    BranchAny(Vec<String>),
    Error(&'static str, String),
    Wait(u64),
    Finish(Finish),
}

/// One contact's run through a flow.
#[derive(Debug, Clone)]
pub struct Execution {
    flow: Arc<Flow>,
    pub contact: Contact,
    current: Option<String>,
    trace: Vec<TraceStep>,
    finished: Option<Finish>,
}

impl Execution {
    pub fn new(flow: Arc<Flow>, contact: Contact) -> Execution {
        let current = Some(flow.start_action.clone());
        Execution {
            flow,
            contact,
            current,
            trace: Vec::new(),
            finished: None,
        }
    }

    pub fn trace(&self) -> &[TraceStep] {
        &self.trace
    }

    pub fn finished(&self) -> Option<&Finish> {
        self.finished.as_ref()
    }

    /// Runs until a `Wait` or the end of the flow.
    pub fn run(&mut self, port: &mut dyn VoiceIdPort) -> Pause {
        loop {
            if let Some(reason) = &self.finished {
                return Pause::Finished {
                    reason: reason.clone(),
                };
            }
            let Some(id) = self.current.clone() else {
                self.finished = Some(Finish::NoTransition);
                continue;
            };
            if self.trace.len() >= MAX_STEPS {
                self.finished = Some(Finish::StepLimit);
                continue;
            }
            let action = self
                .flow
                .action(&id)
                .expect("validated flows only name their own actions")
                .clone();
            let outcome = self.perform(&action, port);
            if let Outcome::Wait(seconds) = outcome {
                self.record(&action, "Waiting".into(), None, format!("{seconds} s"));
                return Pause::Waiting {
                    action: id,
                    seconds,
                };
            }
            self.follow(&action, outcome);
        }
    }

    /// Continues after the `Wait` the execution stopped at: its `WaitCompleted`
    /// branch (or NextAction).
    pub fn resume(&mut self, port: &mut dyn VoiceIdPort) -> Pause {
        if self.finished.is_none() {
            if let Some(action) = self
                .current
                .clone()
                .and_then(|id| self.flow.action(&id).cloned())
            {
                if matches!(action.kind, ActionKind::Wait(_)) {
                    self.trace.pop(); // the "Waiting" placeholder
                    self.follow(&action, Outcome::Branch("WaitCompleted".into()));
                }
            }
        }
        self.run(port)
    }

    fn record(&mut self, action: &Action, branch: String, next: Option<String>, detail: String) {
        self.trace.push(TraceStep {
            identifier: action.identifier.clone(),
            type_name: action.type_name.clone(),
            branch,
            next_action: next,
            detail,
        });
    }

    /// Takes the transition for `outcome` and records the step.
    fn follow(&mut self, action: &Action, outcome: Outcome) {
        let t = &action.transitions;
        let (branch, next, detail) = match outcome {
            Outcome::Next(detail) => ("Success".to_owned(), t.next_action.clone(), detail),
            Outcome::BranchAny(values) => {
                let matched = t
                    .conditions
                    .iter()
                    .find(|c| values.iter().any(|v| c.operator.matches(v, &c.operand)));
                let value = values.join(",");
                match matched {
                    Some(c) => (
                        format!("Condition:{}", c.operand),
                        Some(c.next_action.clone()),
                        value,
                    ),
                    None => match t.on_error("NoMatchingCondition") {
                        Some(n) => (
                            "Error:NoMatchingCondition".to_owned(),
                            Some(n.to_owned()),
                            value,
                        ),
                        None => ("Error:NoMatchingCondition".to_owned(), None, value),
                    },
                }
            }
            Outcome::Branch(value) => match t
                .conditions
                .iter()
                .find(|c| c.operator.matches(&value, &c.operand))
            {
                Some(c) => (
                    format!("Condition:{}", c.operand),
                    Some(c.next_action.clone()),
                    value,
                ),
                None => match t.on_error("NoMatchingCondition") {
                    Some(n) => (
                        "Error:NoMatchingCondition".to_owned(),
                        Some(n.to_owned()),
                        value,
                    ),
                    // Actions without conditions (Wait with only NextAction) continue.
                    None if t.conditions.is_empty() => {
                        ("Success".to_owned(), t.next_action.clone(), value)
                    }
                    None => ("Error:NoMatchingCondition".to_owned(), None, value),
                },
            },
            Outcome::Error(error_type, detail) => (
                format!("Error:{error_type}"),
                t.on_error(error_type).map(str::to_owned),
                detail,
            ),
            Outcome::Finish(reason) => {
                self.record(action, "End".into(), None, String::new());
                self.finished = Some(reason);
                self.current = None;
                return;
            }
            Outcome::Wait(_) => unreachable!("waits return from run"),
        };
        if next.is_none() {
            self.finished = Some(Finish::NoTransition);
        }
        self.record(action, branch, next.clone(), detail);
        self.current = next;
    }

    fn perform(&mut self, action: &Action, port: &mut dyn VoiceIdPort) -> Outcome {
        match &action.kind {
            ActionKind::UpdateContactData(update) => self.update_contact_data(update, port),
            ActionKind::StartVoiceIdStream => self.start_stream(port),
            ActionKind::SetVoiceId(update) => match self.update_contact_data(update, port) {
                Outcome::Next(detail) if self.wants_streaming(update) => {
                    match self.start_stream(port) {
                        Outcome::Next(more) => Outcome::Next(format!("{detail}; {more}")),
                        other => other,
                    }
                }
                other => other,
            },
            ActionKind::CheckVoiceId(option) => self.check(*option, port),
            ActionKind::UpdateContactAttributes(attrs) => {
                let mut resolved = Vec::with_capacity(attrs.len());
                for (name, setting) in attrs {
                    match self.contact.resolve(setting) {
                        Some(v) => resolved.push((name.clone(), v)),
                        None => {
                            return Outcome::Error(
                                "NoMatchingError",
                                format!("attribute {name}: {setting:?} has no value"),
                            )
                        }
                    }
                }
                // All or nothing, as Connect documents for contact updates.
                let names: Vec<String> = resolved.iter().map(|(n, _)| n.clone()).collect();
                self.contact.attributes.extend(resolved);
                Outcome::Next(format!("set {}", names.join(", ")))
            }
            ActionKind::Compare(setting) => {
                Outcome::Branch(self.contact.resolve(setting).unwrap_or_default())
            }
            ActionKind::MessageParticipant(text) => Outcome::Next(format!("prompt: {text}")),
            ActionKind::Wait(setting) => match self
                .contact
                .resolve(setting)
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(seconds) if (1..=604_800).contains(&seconds) => Outcome::Wait(seconds),
                _ => Outcome::Error(
                    "NoMatchingError",
                    format!("TimeoutSeconds {setting:?} is not 1 to 604800"),
                ),
            },
            ActionKind::DisconnectParticipant => Outcome::Finish(Finish::Disconnected),
            ActionKind::EndFlowExecution => Outcome::Finish(Finish::EndFlowExecution),
        }
    }

    fn wants_streaming(&self, update: &ContactDataUpdate) -> bool {
        update
            .streaming_enabled
            .as_ref()
            .and_then(|s| self.contact.resolve(s))
            .and_then(|v| parse_flag(&v))
            .unwrap_or(false)
    }

    /// Applies Set Voice ID's settings and CustomerId, all or nothing.
    fn update_contact_data(
        &mut self,
        update: &ContactDataUpdate,
        port: &mut dyn VoiceIdPort,
    ) -> Outcome {
        if update.touches_voice_id() && self.contact.channel != Channel::Voice {
            return Outcome::Error(
                "NoMatchingError",
                "Voice ID settings apply to voice contacts only".into(),
            );
        }
        let mut next = self.contact.clone();
        let mut notes = Vec::new();
        let flag = |c: &Contact, s: &Option<Setting>, name: &str| -> Result<Option<bool>, String> {
            let Some(s) = s else { return Ok(None) };
            let v = c.resolve(s).ok_or_else(|| format!("{name}: no value"))?;
            parse_flag(&v)
                .map(Some)
                .ok_or_else(|| format!("{name} must be true or false, got {v:?}"))
        };
        let number =
            |c: &Contact, s: &Option<Setting>, name: &str, range: std::ops::RangeInclusive<u8>| {
                let Some(s) = s else { return Ok(None) };
                let v = c.resolve(s).ok_or_else(|| format!("{name}: no value"))?;
                parse_in_range(&v, range.clone()).map(Some).ok_or_else(|| {
                    format!(
                        "{name} must be {} to {}, got {v:?}",
                        range.start(),
                        range.end()
                    )
                })
            };
        let applied = (|| -> Result<(), String> {
            let c = &self.contact;
            if let Some(on) = flag(c, &update.streaming_enabled, "IsVoiceIdStreamingEnabled")? {
                if !on && c.voice_id.streaming_started {
                    // Set Voice ID cannot stop a stream once started (admin guide).
                    notes.push("streaming stays on: it cannot be stopped once started".to_owned());
                }
            }
            if let Some(on) = flag(
                c,
                &update.authentication_enabled,
                "IsVoiceAuthenticationEnabled",
            )? {
                next.voice_id.authentication_enabled = on;
            }
            if let Some(on) = flag(
                c,
                &update.fraud_detection_enabled,
                "IsFraudDetectionEnabled",
            )? {
                next.voice_id.fraud_detection_enabled = on;
            }
            if let Some(n) = number(
                c,
                &update.authentication_threshold,
                "VoiceAuthenticationThreshold",
                0..=100,
            )? {
                next.voice_id.acceptance_threshold = n;
            }
            if let Some(n) = number(
                c,
                &update.authentication_response_time,
                "VoiceAuthenticationResponseTime",
                5..=10,
            )? {
                next.voice_id.response_time_seconds = n;
            }
            if let Some(n) = number(
                c,
                &update.fraud_threshold,
                "FraudDetectionThreshold",
                0..=100,
            )? {
                next.voice_id.risk_threshold = n;
            }
            if let Some(s) = &update.watchlist_id {
                let v = c
                    .resolve(s)
                    .ok_or_else(|| "WatchlistId: no value".to_owned())?;
                if !is_watchlist_id(&v) {
                    return Err(format!(
                        "WatchlistId {v:?} is not 22 alphanumeric characters"
                    ));
                }
                next.voice_id.watchlist_id = Some(v);
            }
            if let Some(s) = &update.customer_id {
                let v = c
                    .resolve(s)
                    .ok_or_else(|| "CustomerId: no value".to_owned())?;
                if !is_customer_id(&v) {
                    return Err("CustomerId must be letters, digits, '_' and '-'".into());
                }
                next.customer_id = Some(v);
                notes.push("CustomerId set".into());
            }
            Ok(())
        })();
        if let Err(message) = applied {
            return Outcome::Error("NoMatchingError", message);
        }
        let changed = next != self.contact;
        self.contact = next;
        if changed && self.contact.voice_id.streaming_started {
            if let Err(e) = port.update_session(&self.contact) {
                return Outcome::Error("NoMatchingError", format!("updating the session: {e}"));
            }
        }
        Outcome::Next(notes.join("; "))
    }

    fn start_stream(&mut self, port: &mut dyn VoiceIdPort) -> Outcome {
        if self.contact.channel != Channel::Voice {
            return Outcome::Error(
                "NoMatchingError",
                "StartVoiceIdStream works on voice contacts only".into(),
            );
        }
        if self.contact.voice_id.streaming_started {
            return Outcome::Next("already streaming".into());
        }
        match port.start_stream(&self.contact) {
            Ok(()) => {
                self.contact.voice_id.streaming_started = true;
                Outcome::Next("streaming started".into())
            }
            Err(e) => Outcome::Error("NoMatchingError", format!("starting the stream: {e}")),
        }
    }

    /// Check Voice ID: the operand per voiceid-api.md §2.4/§2.5, or the Error branch.
    fn check(&mut self, option: CheckOption, port: &mut dyn VoiceIdPort) -> Outcome {
        let error = |m: String| Outcome::Error("NoMatchingError", m);
        if self.contact.channel != Channel::Voice {
            return error("CheckVoiceId works on voice contacts only".into());
        }
        if !self.contact.voice_id.streaming_started {
            return error(
                "Voice ID streaming has not been started for this contact (Set Voice ID first)"
                    .into(),
            );
        }
        match option {
            CheckOption::EnrollmentStatus => {
                if self.contact.customer_id.is_none() {
                    return error("the contact has no CustomerId".into());
                }
                match port.speaker_status(&self.contact) {
                    Ok(status) => Outcome::Branch(enrollment_operand(status.as_deref()).to_owned()),
                    Err(e) => error(e),
                }
            }
            CheckOption::VoiceAuthentication => {
                if !self.contact.voice_id.authentication_enabled {
                    return error("voice authentication is not enabled for this contact".into());
                }
                match port.evaluate(&self.contact) {
                    Ok(ev) => match ev
                        .authentication_decision
                        .as_deref()
                        .and_then(authentication_operand)
                    {
                        Some(operand) => Outcome::Branch(operand.to_owned()),
                        None => error(format!(
                            "authentication decision {:?} has no branch",
                            ev.authentication_decision
                        )),
                    },
                    Err(e) => error(e),
                }
            }
            CheckOption::FraudDetection => {
                if !self.contact.voice_id.fraud_detection_enabled {
                    return error("fraud detection is not enabled for this contact".into());
                }
                match port.evaluate(&self.contact) {
                    Ok(ev) => match ev
                        .fraud_detection_decision
                        .as_deref()
                        .and_then(fraud_operand)
                    {
                        Some(operand) => Outcome::Branch(operand.to_owned()),
                        None => error(format!(
                            "fraud decision {:?} has no branch",
                            ev.fraud_detection_decision
                        )),
                    },
                    Err(e) => error(e),
                }
            }
            CheckOption::EngineCondition => match port.evaluate(&self.contact) {
                Ok(ev) => Outcome::BranchAny(ev.engine_conditions),
                Err(e) => error(e),
            },
        }
    }
}

/// enrollmentStatus operand for a speaker status. EXPIRED has no branch of its
/// own; an expired voiceprint must be enrolled again, so it reads NotEnrolled.
pub fn enrollment_operand(status: Option<&str>) -> &'static str {
    match status {
        Some("ENROLLED") => "Enrolled",
        Some("OPTED_OUT") => "OptedOut",
        _ => "NotEnrolled",
    }
}

/// voiceAuthentication operand for an AuthenticationDecision (§2.5); None = the
/// Error branch (SPEAKER_ID_NOT_PROVIDED, SPEAKER_EXPIRED, unknown).
pub fn authentication_operand(decision: &str) -> Option<&'static str> {
    Some(match decision {
        "ACCEPT" => "Authenticated",
        "REJECT" => "NotAuthenticated",
        "NOT_ENOUGH_SPEECH" => "Inconclusive",
        "SPEAKER_NOT_ENROLLED" => "NotEnrolled",
        "SPEAKER_OPTED_OUT" => "OptedOut",
        _ => return None,
    })
}

/// fraudDetection operand for a FraudDetectionDecision (§2.5).
pub fn fraud_operand(decision: &str) -> Option<&'static str> {
    Some(match decision {
        "HIGH_RISK" => "HighRisk",
        "LOW_RISK" => "LowRisk",
        "NOT_ENOUGH_SPEECH" => "Inconclusive",
        _ => return None,
    })
}
