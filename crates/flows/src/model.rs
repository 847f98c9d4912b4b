//! Loading and validating a flow: the flow-language JSON Amazon Connect exports.
//!
//! Everything that can be checked without a contact is checked here, so a broken
//! flow is refused when it is loaded (with the offending action's identifier)
//! instead of misrouting a caller later: unknown action types, duplicate or
//! malformed identifiers, transitions to actions that do not exist, unknown
//! operators, and statically set Voice ID values out of range (thresholds 0–100,
//! response time 5–10 s, watchlist ids of 22 alphanumerics).

use std::collections::HashMap;

use serde_json::Value;

use crate::FlowError;

/// Most actions a flow may hold (Amazon Connect's limit).
pub const MAX_ACTIONS: usize = 250;
/// Longest action identifier.
pub const MAX_IDENTIFIER_CHARS: usize = 50;
const FORBIDDEN_IDENTIFIER_CHARS: &[char] = &[
    '%', ':', '(', '\\', '/', ')', '=', '$', ',', ';', '[', ']', '{', '}',
];
const RESERVED_IDENTIFIERS: &[&str] = &[
    "__proto__",
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

/// A value set statically in the flow or read from contact data at run time
/// (a JSONPath such as `$.Attributes.threshold`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Static(String),
    Dynamic(String),
}

impl Setting {
    fn parse(raw: &str) -> Setting {
        if raw.starts_with("$.") {
            Setting::Dynamic(raw.to_owned())
        } else {
            Setting::Static(raw.to_owned())
        }
    }
}

/// The Voice ID part of an `UpdateContactData` action (the "Set Voice ID" block)
/// plus `CustomerId` ("Set contact attributes" → Customer ID). Absent = unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactDataUpdate {
    pub streaming_enabled: Option<Setting>,
    pub authentication_enabled: Option<Setting>,
    pub fraud_detection_enabled: Option<Setting>,
    pub authentication_threshold: Option<Setting>,
    pub authentication_response_time: Option<Setting>,
    pub fraud_threshold: Option<Setting>,
    pub watchlist_id: Option<Setting>,
    pub customer_id: Option<Setting>,
}

impl ContactDataUpdate {
    /// Whether any Voice ID setting (not just CustomerId) is present.
    pub fn touches_voice_id(&self) -> bool {
        [
            &self.streaming_enabled,
            &self.authentication_enabled,
            &self.fraud_detection_enabled,
            &self.authentication_threshold,
            &self.authentication_response_time,
            &self.fraud_threshold,
            &self.watchlist_id,
        ]
        .iter()
        .any(|s| s.is_some())
    }
}

/// `CheckVoiceIdOption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOption {
    EnrollmentStatus,
    VoiceAuthentication,
    FraudDetection,
    /// voiceprint extension (docs/ENGINE-CONDITIONS.md): branch on the call's
    /// engine conditions; the first condition (in the block's order) the call has wins.
    EngineCondition,
}

impl CheckOption {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOption::EnrollmentStatus => "enrollmentStatus",
            CheckOption::VoiceAuthentication => "voiceAuthentication",
            CheckOption::FraudDetection => "fraudDetection",
            CheckOption::EngineCondition => "engineCondition",
        }
    }

    /// The branch operands the Check Voice ID block offers for this option
    /// (voiceid-api.md §2.4, spelled as the console exports them).
    pub fn operands(self) -> &'static [&'static str] {
        match self {
            CheckOption::EnrollmentStatus => &["Enrolled", "NotEnrolled", "OptedOut"],
            CheckOption::VoiceAuthentication => &[
                "Authenticated",
                "NotAuthenticated",
                "Inconclusive",
                "NotEnrolled",
                "OptedOut",
            ],
            CheckOption::FraudDetection => &["HighRisk", "LowRisk", "Inconclusive"],
            CheckOption::EngineCondition => &[
                "NoAttribute",
                "NoVoicePrint",
                "UnknownPerson",
                "OptedOut",
                "NotTrained",
                "PartiallyTrained",
                "PendingApproval",
                "Invalidated",
                "CoolingOff",
                "Expired",
                "Verified",
                "NotVerified",
                "PotentialDetection",
                "Detected",
                "NotDetected",
            ],
        }
    }
}

/// What an action does.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// `UpdateContactData` (Set Voice ID's settings, CustomerId).
    UpdateContactData(ContactDataUpdate),
    /// `StartVoiceIdStream`.
    StartVoiceIdStream,
    /// "Set security behavior" / `SetVoiceId`: the settings and, when streaming is
    /// enabled, the stream start, as one action (alias of the two-action block).
    SetVoiceId(ContactDataUpdate),
    /// `CheckVoiceId`.
    CheckVoiceId(CheckOption),
    /// `UpdateContactAttributes`: user-defined attributes, values static or `$.` paths.
    UpdateContactAttributes(Vec<(String, Setting)>),
    /// `Compare`: branch on a value with the transitions' conditions.
    Compare(Setting),
    /// `MessageParticipant`: a prompt (recorded; no speech synthesis).
    MessageParticipant(String),
    /// `Wait`: pause the flow (audio keeps streaming) for the seconds given.
    Wait(Setting),
    DisconnectParticipant,
    EndFlowExecution,
}

/// Comparison operators of flow-language conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    TextStartsWith,
    TextEndsWith,
    TextContains,
    NumberGreaterThan,
    NumberGreaterOrEqualTo,
    NumberLessThan,
    NumberLessOrEqualTo,
}

impl Operator {
    fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "Equals" => Operator::Equals,
            "TextStartsWith" => Operator::TextStartsWith,
            "TextEndsWith" => Operator::TextEndsWith,
            "TextContains" => Operator::TextContains,
            "NumberGreaterThan" => Operator::NumberGreaterThan,
            "NumberGreaterOrEqualTo" => Operator::NumberGreaterOrEqualTo,
            "NumberLessThan" => Operator::NumberLessThan,
            "NumberLessOrEqualTo" => Operator::NumberLessOrEqualTo,
            _ => return None,
        })
    }

    /// Whether `value` satisfies the condition against `operand`. Number operators
    /// on non-numbers are false (never a match by accident).
    pub fn matches(self, value: &str, operand: &str) -> bool {
        let numbers = || {
            Some((
                value.trim().parse::<f64>().ok()?,
                operand.trim().parse::<f64>().ok()?,
            ))
        };
        match self {
            Operator::Equals => value == operand,
            Operator::TextStartsWith => value.starts_with(operand),
            Operator::TextEndsWith => value.ends_with(operand),
            Operator::TextContains => value.contains(operand),
            Operator::NumberGreaterThan => numbers().is_some_and(|(v, o)| v > o),
            Operator::NumberGreaterOrEqualTo => numbers().is_some_and(|(v, o)| v >= o),
            Operator::NumberLessThan => numbers().is_some_and(|(v, o)| v < o),
            Operator::NumberLessOrEqualTo => numbers().is_some_and(|(v, o)| v <= o),
        }
    }
}

/// One `Conditions[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    pub operand: String,
    pub next_action: String,
}

/// `Transitions`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transitions {
    pub next_action: Option<String>,
    pub conditions: Vec<Condition>,
    /// `(ErrorType, NextAction)` in order.
    pub errors: Vec<(String, String)>,
}

impl Transitions {
    /// The action an error of `error_type` leads to: that type's entry, else
    /// `NoMatchingError`'s.
    pub fn on_error(&self, error_type: &str) -> Option<&str> {
        let find = |t: &str| {
            self.errors
                .iter()
                .find(|(e, _)| e == t)
                .map(|(_, n)| n.as_str())
        };
        find(error_type).or_else(|| find("NoMatchingError"))
    }
}

/// One action of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub identifier: String,
    /// The `Type` as written in the flow.
    pub type_name: String,
    pub kind: ActionKind,
    pub transitions: Transitions,
}

/// A loaded, validated flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub version: String,
    pub start_action: String,
    actions: HashMap<String, Action>,
}

impl Flow {
    /// Parses and validates flow-language JSON.
    pub fn from_json(text: &str) -> Result<Flow, FlowError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FlowError::Invalid {
            action: None,
            message: format!("not JSON: {e}"),
        })?;
        Flow::from_value(&value)
    }

    /// Parses and validates an already-parsed flow document.
    pub fn from_value(doc: &Value) -> Result<Flow, FlowError> {
        let top = |m: String| FlowError::Invalid {
            action: None,
            message: m,
        };
        let obj = doc
            .as_object()
            .ok_or_else(|| top("a flow is a JSON object".into()))?;
        let version = obj
            .get("Version")
            .and_then(Value::as_str)
            .ok_or_else(|| top("Version is required (e.g. \"2019-10-30\")".into()))?
            .to_owned();
        let start_action = obj
            .get("StartAction")
            .and_then(Value::as_str)
            .ok_or_else(|| top("StartAction is required".into()))?
            .to_owned();
        let list = obj
            .get("Actions")
            .and_then(Value::as_array)
            .ok_or_else(|| top("Actions must be a list".into()))?;
        if list.is_empty() || list.len() > MAX_ACTIONS {
            return Err(top(format!(
                "a flow has 1 to {MAX_ACTIONS} actions, this one has {}",
                list.len()
            )));
        }
        let mut actions = HashMap::with_capacity(list.len());
        for (index, raw) in list.iter().enumerate() {
            let action = parse_action(raw, index)?;
            if actions.contains_key(&action.identifier) {
                return Err(FlowError::Invalid {
                    action: Some(action.identifier.clone()),
                    message: "duplicate Identifier".into(),
                });
            }
            actions.insert(action.identifier.clone(), action);
        }
        if !actions.contains_key(&start_action) {
            return Err(top(format!(
                "StartAction {start_action:?} is not an action of this flow"
            )));
        }
        for action in actions.values() {
            let targets = action
                .transitions
                .next_action
                .iter()
                .chain(action.transitions.conditions.iter().map(|c| &c.next_action))
                .chain(action.transitions.errors.iter().map(|(_, n)| n));
            for target in targets {
                if !actions.contains_key(target) {
                    return Err(FlowError::Invalid {
                        action: Some(action.identifier.clone()),
                        message: format!(
                            "transition to {target:?}, which is not an action of this flow"
                        ),
                    });
                }
            }
        }
        Ok(Flow {
            version,
            start_action,
            actions,
        })
    }

    pub fn action(&self, identifier: &str) -> Option<&Action> {
        self.actions.get(identifier)
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

fn parse_action(raw: &Value, index: usize) -> Result<Action, FlowError> {
    let at_index = |m: String| FlowError::Invalid {
        action: Some(format!("Actions[{index}]")),
        message: m,
    };
    let obj = raw
        .as_object()
        .ok_or_else(|| at_index("an action is a JSON object".into()))?;
    let identifier = obj
        .get("Identifier")
        .and_then(Value::as_str)
        .ok_or_else(|| at_index("Identifier is required".into()))?
        .to_owned();
    let invalid = |m: String| FlowError::Invalid {
        action: Some(identifier.clone()),
        message: m,
    };
    check_identifier(&identifier).map_err(invalid)?;
    let type_name = obj
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Type is required".into()))?
        .to_owned();
    let empty = serde_json::Map::new();
    let params = match obj.get("Parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err(invalid("Parameters must be an object".into())),
    };
    let kind = parse_kind(&type_name, params).map_err(invalid)?;
    let transitions = parse_transitions(obj.get("Transitions"), &kind).map_err(invalid)?;
    Ok(Action {
        identifier,
        type_name,
        kind,
        transitions,
    })
}

fn check_identifier(id: &str) -> Result<(), String> {
    if id.is_empty() || id.chars().count() > MAX_IDENTIFIER_CHARS {
        return Err(format!(
            "Identifier must be 1 to {MAX_IDENTIFIER_CHARS} characters"
        ));
    }
    if let Some(c) = id.chars().find(|c| FORBIDDEN_IDENTIFIER_CHARS.contains(c)) {
        return Err(format!("Identifier must not contain {c:?}"));
    }
    if RESERVED_IDENTIFIERS.contains(&id) {
        return Err(format!("Identifier {id:?} is reserved"));
    }
    Ok(())
}

fn string_param(
    params: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<Setting>, String> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Setting::parse(s))),
        // Numbers and booleans appear in hand-written flows; Connect writes strings.
        Some(Value::Number(n)) => Ok(Some(Setting::Static(n.to_string()))),
        Some(Value::Bool(b)) => Ok(Some(Setting::Static(b.to_string()))),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// Static checks of the Voice ID values (dynamic ones are checked at run time).
fn check_static(update: &ContactDataUpdate) -> Result<(), String> {
    let statics = |s: &Option<Setting>| match s {
        Some(Setting::Static(v)) => Some(v.clone()),
        _ => None,
    };
    for (name, setting) in [
        ("IsVoiceIdStreamingEnabled", &update.streaming_enabled),
        (
            "IsVoiceAuthenticationEnabled",
            &update.authentication_enabled,
        ),
        ("IsFraudDetectionEnabled", &update.fraud_detection_enabled),
    ] {
        if let Some(v) = statics(setting) {
            parse_flag(&v)
                .ok_or_else(|| format!("{name} must be \"true\" or \"false\", got {v:?}"))?;
        }
    }
    for (name, setting, range) in [
        (
            "VoiceAuthenticationThreshold",
            &update.authentication_threshold,
            0..=100,
        ),
        ("FraudDetectionThreshold", &update.fraud_threshold, 0..=100),
        (
            "VoiceAuthenticationResponseTime",
            &update.authentication_response_time,
            5..=10,
        ),
    ] {
        if let Some(v) = statics(setting) {
            parse_in_range(&v, range.clone()).ok_or_else(|| {
                format!(
                    "{name} must be a whole number from {} to {}, got {v:?}",
                    range.start(),
                    range.end()
                )
            })?;
        }
    }
    if let Some(v) = statics(&update.watchlist_id) {
        if !is_watchlist_id(&v) {
            return Err(format!(
                "WatchlistId set manually must be 22 alphanumeric characters, got {v:?}"
            ));
        }
    }
    if let Some(v) = statics(&update.customer_id) {
        if !is_customer_id(&v) {
            return Err(
                "CustomerId must be letters, digits, '_' and '-' (1 to 256 characters)".into(),
            );
        }
    }
    Ok(())
}

/// `"true"` / `"false"`, any case (the console exports lowercase, the docs say TRUE).
pub fn parse_flag(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A whole number within `range`.
pub fn parse_in_range(v: &str, range: std::ops::RangeInclusive<u8>) -> Option<u8> {
    v.trim().parse::<u8>().ok().filter(|n| range.contains(n))
}

/// Voice ID watchlist ids: exactly 22 ASCII letters and digits.
pub fn is_watchlist_id(v: &str) -> bool {
    v.len() == 22 && v.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `CustomerSpeakerId`'s pattern `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`, 1..256 characters.
pub fn is_customer_id(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

fn contact_data_update(
    params: &serde_json::Map<String, Value>,
) -> Result<ContactDataUpdate, String> {
    let update = ContactDataUpdate {
        streaming_enabled: string_param(params, "IsVoiceIdStreamingEnabled")?,
        authentication_enabled: string_param(params, "IsVoiceAuthenticationEnabled")?,
        fraud_detection_enabled: string_param(params, "IsFraudDetectionEnabled")?,
        authentication_threshold: string_param(params, "VoiceAuthenticationThreshold")?,
        authentication_response_time: string_param(params, "VoiceAuthenticationResponseTime")?,
        fraud_threshold: string_param(params, "FraudDetectionThreshold")?,
        watchlist_id: string_param(params, "WatchlistId")?,
        customer_id: string_param(params, "CustomerId")?,
    };
    check_static(&update)?;
    Ok(update)
}

fn parse_kind(
    type_name: &str,
    params: &serde_json::Map<String, Value>,
) -> Result<ActionKind, String> {
    Ok(match type_name {
        "UpdateContactData" => ActionKind::UpdateContactData(contact_data_update(params)?),
        "StartVoiceIdStream" => ActionKind::StartVoiceIdStream,
        // "Set security behavior" is the block's older name in seed documents.
        "SetVoiceId" | "SetSecurityBehavior" | "Set security behavior" | "Set Voice ID" => {
            ActionKind::SetVoiceId(contact_data_update(params)?)
        }
        "CheckVoiceId" => {
            let option = match params.get("CheckVoiceIdOption").and_then(Value::as_str) {
                Some("enrollmentStatus") => CheckOption::EnrollmentStatus,
                Some("voiceAuthentication") => CheckOption::VoiceAuthentication,
                Some("fraudDetection") => CheckOption::FraudDetection,
                Some("engineCondition") => CheckOption::EngineCondition,
                other => {
                    return Err(format!(
                        "CheckVoiceIdOption must be enrollmentStatus, voiceAuthentication, fraudDetection or engineCondition, got {other:?}"
                    ))
                }
            };
            ActionKind::CheckVoiceId(option)
        }
        "UpdateContactAttributes" => {
            let attrs = params
                .get("Attributes")
                .and_then(Value::as_object)
                .ok_or_else(|| "Attributes must be an object of name to value".to_owned())?;
            let mut out = Vec::with_capacity(attrs.len());
            for (name, _) in attrs {
                let setting = string_param(attrs, name)?.ok_or_else(|| format!("attribute {name} has no value"))?;
                out.push((name.clone(), setting));
            }
            ActionKind::UpdateContactAttributes(out)
        }
        "Compare" => ActionKind::Compare(
            string_param(params, "ComparisonValue")?.ok_or_else(|| "ComparisonValue is required".to_owned())?,
        ),
        "MessageParticipant" => {
            let text = ["Text", "SSML", "PromptId", "Media"]
                .iter()
                .find_map(|k| params.get(*k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .ok_or_else(|| "MessageParticipant needs Text, SSML, PromptId or Media".to_owned())?;
            ActionKind::MessageParticipant(text)
        }
        "Wait" => {
            let timeout = string_param(params, "TimeoutSeconds")?
                .ok_or_else(|| "TimeoutSeconds is required".to_owned())?;
            if let Setting::Static(v) = &timeout {
                match v.trim().parse::<u64>() {
                    Ok(n) if (1..=604_800).contains(&n) => {}
                    _ => return Err(format!("TimeoutSeconds must be a whole number from 1 to 604800, got {v:?}")),
                }
            }
            ActionKind::Wait(timeout)
        }
        "DisconnectParticipant" => ActionKind::DisconnectParticipant,
        "EndFlowExecution" => ActionKind::EndFlowExecution,
        other => {
            return Err(format!(
                "unsupported action type {other:?} (voiceprint runs the Voice ID parts of flows: UpdateContactData, \
                 StartVoiceIdStream, CheckVoiceId, UpdateContactAttributes, Compare, MessageParticipant, Wait, \
                 DisconnectParticipant, EndFlowExecution)"
            ))
        }
    })
}

fn parse_transitions(raw: Option<&Value>, kind: &ActionKind) -> Result<Transitions, String> {
    let Some(raw) = raw else {
        return Ok(Transitions::default());
    };
    let obj = raw
        .as_object()
        .ok_or_else(|| "Transitions must be an object".to_owned())?;
    let next_action = match obj.get("NextAction") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("Transitions.NextAction must be a string".into()),
    };
    let mut conditions = Vec::new();
    for c in obj
        .get("Conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let next = c
            .get("NextAction")
            .and_then(Value::as_str)
            .ok_or_else(|| "every condition needs a NextAction".to_owned())?;
        let cond = c
            .get("Condition")
            .ok_or_else(|| "every condition needs a Condition".to_owned())?;
        let op_name = cond
            .get("Operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let operator = Operator::parse(op_name)
            .ok_or_else(|| format!("unsupported condition operator {op_name:?}"))?;
        let operands = cond
            .get("Operands")
            .and_then(Value::as_array)
            .ok_or_else(|| "Condition.Operands must be a list".to_owned())?;
        let [operand] = operands.as_slice() else {
            return Err("a condition has exactly one operand".into());
        };
        let operand = match operand {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err("condition operands are strings or numbers".into()),
        };
        if let ActionKind::CheckVoiceId(option) = kind {
            if operator != Operator::Equals || !option.operands().contains(&operand.as_str()) {
                return Err(format!(
                    "CheckVoiceId ({}) branches are Equals on one of {:?}, got {op_name} {operand:?}",
                    option.as_str(),
                    option.operands()
                ));
            }
        }
        conditions.push(Condition {
            operator,
            operand,
            next_action: next.to_owned(),
        });
    }
    let mut errors = Vec::new();
    for e in obj
        .get("Errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(t), Some(n)) = (
            e.get("ErrorType").and_then(Value::as_str),
            e.get("NextAction").and_then(Value::as_str),
        ) else {
            return Err("every error transition needs ErrorType and NextAction".into());
        };
        errors.push((t.to_owned(), n.to_owned()));
    }
    Ok(Transitions {
        next_action,
        conditions,
        errors,
    })
}
