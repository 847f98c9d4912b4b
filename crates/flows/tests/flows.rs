//! The flow rules, run against a scripted Voice ID port (it isolates the routing
//! from the real service; the server's end-to-end tests run flows on real audio).

use std::sync::Arc;

use voiceprint_flows::{
    Channel, Contact, Evaluation, Execution, Finish, Flow, FlowError, Pause, VoiceIdPort,
};

/// Answers what the test scripted and records the calls.
#[derive(Default)]
struct ScriptedPort {
    speaker_status: Option<String>,
    evaluation: Evaluation,
    fail_start: bool,
    evaluate_error: Option<String>,
    started: Vec<Contact>,
    updated: Vec<Contact>,
}

impl VoiceIdPort for ScriptedPort {
    fn start_stream(&mut self, contact: &Contact) -> Result<(), String> {
        if self.fail_start {
            return Err("no such domain".into());
        }
        self.started.push(contact.clone());
        Ok(())
    }
    fn update_session(&mut self, contact: &Contact) -> Result<(), String> {
        self.updated.push(contact.clone());
        Ok(())
    }
    fn speaker_status(&mut self, _contact: &Contact) -> Result<Option<String>, String> {
        Ok(self.speaker_status.clone())
    }
    fn evaluate(&mut self, _contact: &Contact) -> Result<Evaluation, String> {
        match &self.evaluate_error {
            Some(e) => Err(e.clone()),
            None => Ok(self.evaluation.clone()),
        }
    }
}

fn sample() -> Arc<Flow> {
    Arc::new(Flow::from_json(include_str!("flows/voice-id-sample.json")).unwrap())
}

fn voice_contact(account: Option<&str>) -> Contact {
    let mut c = Contact::new("contact-1", Channel::Voice);
    if let Some(a) = account {
        c.attributes.insert("AccountNumber".into(), a.into());
    }
    c
}

fn eval(auth: &str, fraud: &str) -> Evaluation {
    Evaluation {
        authentication_decision: Some(auth.into()),
        fraud_detection_decision: Some(fraud.into()),
        engine_conditions: Vec::new(),
    }
}

/// Runs to the end, resuming every Wait; returns the VoiceIdOutcome attribute.
fn run_to_end(exec: &mut Execution, port: &mut ScriptedPort) -> String {
    let mut pause = exec.run(port);
    let mut waits = 0;
    while let Pause::Waiting { seconds, .. } = pause {
        assert_eq!(seconds, 10);
        waits += 1;
        assert!(waits < 10, "flow keeps waiting");
        pause = exec.resume(port);
    }
    assert_eq!(
        pause,
        Pause::Finished {
            reason: Finish::EndFlowExecution
        },
        "trace: {:#?}",
        exec.trace()
    );
    exec.contact
        .attributes
        .get("VoiceIdOutcome")
        .cloned()
        .unwrap_or_default()
}

fn branches(exec: &Execution) -> Vec<String> {
    exec.trace()
        .iter()
        .map(|s| format!("{}={}", s.identifier, s.branch))
        .collect()
}

#[test]
fn sample_flow_first_call_routes_to_enrollment() {
    let mut port = ScriptedPort {
        speaker_status: None,
        ..Default::default()
    };
    let mut exec = Execution::new(sample(), voice_contact(Some("acct-1001")));
    assert_eq!(run_to_end(&mut exec, &mut port), "NotEnrolled");
    assert!(branches(&exec).contains(&"check-enrollment=Condition:NotEnrolled".to_owned()));
    // The stream started once with the block's settings and the caller's CustomerId.
    assert_eq!(port.started.len(), 1);
    let s = &port.started[0].voice_id;
    assert!(s.authentication_enabled && s.fraud_detection_enabled);
    assert_eq!(
        (
            s.acceptance_threshold,
            s.response_time_seconds,
            s.risk_threshold
        ),
        (90, 10, 50)
    );
    assert_eq!(
        port.updated.last().unwrap().customer_id.as_deref(),
        Some("acct-1001")
    );
}

#[test]
fn sample_flow_covers_every_decision() {
    for (auth, fraud, expected) in [
        ("ACCEPT", "LOW_RISK", "Authenticated"),
        ("ACCEPT", "HIGH_RISK", "HighRisk"),
        ("REJECT", "LOW_RISK", "NotAuthenticated"),
        ("REJECT", "HIGH_RISK", "HighRisk"),
        ("NOT_ENOUGH_SPEECH", "NOT_ENOUGH_SPEECH", "Inconclusive"),
        ("SPEAKER_OPTED_OUT", "LOW_RISK", "OptedOut"),
        ("SPEAKER_NOT_ENROLLED", "LOW_RISK", "NotEnrolled"),
        ("SPEAKER_EXPIRED", "LOW_RISK", "Error"),
        ("SPEAKER_ID_NOT_PROVIDED", "LOW_RISK", "Error"),
    ] {
        let mut port = ScriptedPort {
            speaker_status: Some("ENROLLED".into()),
            evaluation: eval(auth, fraud),
            ..Default::default()
        };
        let mut exec = Execution::new(sample(), voice_contact(Some("acct-1001")));
        assert_eq!(
            run_to_end(&mut exec, &mut port),
            expected,
            "{auth}/{fraud}: {:#?}",
            branches(&exec)
        );
    }
}

#[test]
fn enrollment_status_operands() {
    for (status, expected) in [
        (Some("ENROLLED"), "Condition:Enrolled"),
        (Some("OPTED_OUT"), "Condition:OptedOut"),
        (Some("PENDING"), "Condition:NotEnrolled"),
        (Some("EXPIRED"), "Condition:NotEnrolled"),
        (None, "Condition:NotEnrolled"),
    ] {
        let mut port = ScriptedPort {
            speaker_status: status.map(str::to_owned),
            evaluation: eval("ACCEPT", "LOW_RISK"),
            ..Default::default()
        };
        let mut exec = Execution::new(sample(), voice_contact(Some("acct-1")));
        run_to_end(&mut exec, &mut port);
        let step = exec
            .trace()
            .iter()
            .find(|s| s.identifier == "check-enrollment")
            .unwrap();
        assert_eq!(step.branch, expected, "{status:?}");
    }
}

#[test]
fn chat_and_task_contacts_take_the_error_branch() {
    for channel in [Channel::Chat, Channel::Task] {
        let mut port = ScriptedPort::default();
        let mut c = voice_contact(Some("acct-1"));
        c.channel = channel;
        let mut exec = Execution::new(sample(), c);
        assert_eq!(run_to_end(&mut exec, &mut port), "Error");
        assert!(
            branches(&exec).contains(&"set-voice-id=Error:NoMatchingError".to_owned()),
            "{:?}",
            branches(&exec)
        );
        assert!(port.started.is_empty(), "no stream for {channel:?}");
    }
}

#[test]
fn missing_customer_id_is_an_error_for_enrollment_status() {
    let mut port = ScriptedPort::default();
    // AccountNumber is absent: the dynamic CustomerId has no value.
    let mut exec = Execution::new(sample(), voice_contact(None));
    assert_eq!(run_to_end(&mut exec, &mut port), "Error");
    assert!(branches(&exec).contains(&"set-customer-id=Error:NoMatchingError".to_owned()));
}

#[test]
fn evaluation_failures_take_the_check_error_branch() {
    let mut port = ScriptedPort {
        speaker_status: Some("ENROLLED".into()),
        evaluate_error: Some("ResourceNotFoundException: The watchlist does not exist".into()),
        ..Default::default()
    };
    let mut exec = Execution::new(sample(), voice_contact(Some("acct-1")));
    assert_eq!(run_to_end(&mut exec, &mut port), "Error");
    let step = exec
        .trace()
        .iter()
        .find(|s| s.identifier == "check-authentication")
        .unwrap();
    assert_eq!(step.branch, "Error:NoMatchingError");
    assert!(step.detail.contains("watchlist"), "{}", step.detail);
}

fn flow(actions: &str) -> Result<Flow, FlowError> {
    Flow::from_json(&format!(
        r#"{{"Version": "2019-10-30", "StartAction": "a", "Actions": [{actions}]}}"#
    ))
}

const END: &str =
    r#"{"Identifier": "end", "Type": "EndFlowExecution", "Parameters": {}, "Transitions": {}}"#;
const ERR: &str = r#"{"Identifier": "err", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {"Outcome": "Error"}}, "Transitions": {"NextAction": "end"}}"#;

fn set_voice_id(params: &str) -> String {
    format!(
        r#"{{"Identifier": "a", "Type": "UpdateContactData", "Parameters": {{{params}}},
            "Transitions": {{"NextAction": "end", "Errors": [{{"ErrorType": "NoMatchingError", "NextAction": "err"}}]}}}}, {END}, {ERR}"#
    )
}

#[test]
fn load_time_errors_name_the_action() {
    let unknown = flow(&format!(r#"{{"Identifier": "a", "Type": "InvokeLambdaFunction", "Parameters": {{}}, "Transitions": {{"NextAction": "end"}}}}, {END}"#))
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("action a: unsupported action type \"InvokeLambdaFunction\""),
        "{unknown}"
    );

    let static_watchlist = flow(&set_voice_id(r#""WatchlistId": "not-22-alnum""#)).unwrap_err();
    assert!(
        static_watchlist.to_string().contains("22 alphanumeric"),
        "{static_watchlist}"
    );
    assert!(flow(&set_voice_id(r#""WatchlistId": "abcdefghijABCDEFGHIJ12""#)).is_ok());

    for bad in [
        r#""VoiceAuthenticationThreshold": "101""#,
        r#""FraudDetectionThreshold": "-1""#,
        r#""VoiceAuthenticationResponseTime": "4""#,
        r#""VoiceAuthenticationResponseTime": "11""#,
        r#""IsVoiceIdStreamingEnabled": "yes""#,
    ] {
        let err = flow(&set_voice_id(bad)).unwrap_err();
        assert!(
            matches!(&err, FlowError::Invalid { action: Some(a), .. } if a == "a"),
            "{bad}: {err}"
        );
    }

    let dangling = flow(r#"{"Identifier": "a", "Type": "EndFlowExecution", "Parameters": {}, "Transitions": {"NextAction": "nowhere"}}"#)
        .unwrap_err();
    assert!(dangling.to_string().contains("nowhere"), "{dangling}");
    let duplicate = flow(&format!("{END}, {END}")).unwrap_err();
    assert!(duplicate.to_string().contains("duplicate"), "{duplicate}");
    let bad_id = flow(r#"{"Identifier": "a:b", "Type": "EndFlowExecution", "Transitions": {}}"#)
        .unwrap_err();
    assert!(bad_id.to_string().contains("must not contain"), "{bad_id}");
    let bad_operand = flow(&format!(
        r#"{{"Identifier": "a", "Type": "CheckVoiceId", "Parameters": {{"CheckVoiceIdOption": "fraudDetection"}},
            "Transitions": {{"Conditions": [{{"NextAction": "end", "Condition": {{"Operator": "Equals", "Operands": ["Authenticated"]}}}}]}}}}, {END}"#
    ))
    .unwrap_err();
    assert!(
        bad_operand.to_string().contains("HighRisk"),
        "{bad_operand}"
    );
    assert!(Flow::from_json("{not json").is_err());
    assert!(
        Flow::from_json(r#"{"Version": "2019-10-30", "StartAction": "x", "Actions": []}"#).is_err()
    );
}

/// A one-contact run of a small flow: attributes first, then `a`.
fn run_small(actions: &str, attrs: &[(&str, &str)], port: &mut ScriptedPort) -> Execution {
    let f = Arc::new(flow(actions).unwrap());
    let mut c = voice_contact(None);
    for (k, v) in attrs {
        c.attributes.insert((*k).into(), (*v).into());
    }
    let mut exec = Execution::new(f, c);
    exec.run(port);
    exec
}

#[test]
fn dynamic_values_are_checked_when_read() {
    let actions = set_voice_id(
        r#""WatchlistId": "$.Attributes.wl", "VoiceAuthenticationThreshold": "$.Attributes.th""#,
    );
    let mut port = ScriptedPort::default();
    let ok = run_small(
        &actions,
        &[("wl", "abcdefghijABCDEFGHIJ12"), ("th", "75")],
        &mut port,
    );
    assert_eq!(
        ok.contact.voice_id.watchlist_id.as_deref(),
        Some("abcdefghijABCDEFGHIJ12")
    );
    assert_eq!(ok.contact.voice_id.acceptance_threshold, 75);
    assert_eq!(ok.trace()[0].branch, "Success");

    for attrs in [
        [("wl", "short"), ("th", "75")],
        [("wl", "abcdefghijABCDEFGHIJ12"), ("th", "175")],
    ] {
        let bad = run_small(&actions, &attrs, &mut port);
        assert_eq!(bad.trace()[0].branch, "Error:NoMatchingError", "{attrs:?}");
        // All or nothing: nothing of the failed update was applied.
        assert_eq!(bad.contact.voice_id.watchlist_id, None);
        assert_eq!(bad.contact.voice_id.acceptance_threshold, 90);
        assert_eq!(
            bad.contact.attributes.get("Outcome").map(String::as_str),
            Some("Error")
        );
    }
}

#[test]
fn streaming_cannot_be_stopped_once_started() {
    let actions = format!(
        r#"{{"Identifier": "a", "Type": "SetVoiceId", "Parameters": {{"IsVoiceIdStreamingEnabled": "TRUE", "IsVoiceAuthenticationEnabled": "true"}},
             "Transitions": {{"NextAction": "b", "Errors": [{{"ErrorType": "NoMatchingError", "NextAction": "err"}}]}}}},
           {{"Identifier": "b", "Type": "Set security behavior", "Parameters": {{"IsVoiceIdStreamingEnabled": "false"}},
             "Transitions": {{"NextAction": "end", "Errors": [{{"ErrorType": "NoMatchingError", "NextAction": "err"}}]}}}},
           {END}, {ERR}"#
    );
    let mut port = ScriptedPort::default();
    let exec = run_small(&actions, &[], &mut port);
    assert_eq!(
        port.started.len(),
        1,
        "SetVoiceId (alias) starts the stream once"
    );
    assert!(
        exec.contact.voice_id.streaming_started,
        "a later block cannot stop it"
    );
    assert!(
        exec.trace()[1].detail.contains("cannot be stopped"),
        "{:?}",
        exec.trace()[1]
    );
}

#[test]
fn failed_stream_start_takes_the_error_branch() {
    let mut port = ScriptedPort {
        fail_start: true,
        ..Default::default()
    };
    let actions = format!(
        r#"{{"Identifier": "a", "Type": "StartVoiceIdStream", "Parameters": {{}},
             "Transitions": {{"NextAction": "end", "Errors": [{{"ErrorType": "NoMatchingError", "NextAction": "err"}}]}}}}, {END}, {ERR}"#
    );
    let exec = run_small(&actions, &[], &mut port);
    assert_eq!(exec.trace()[0].branch, "Error:NoMatchingError");
    assert!(!exec.contact.voice_id.streaming_started);
}

#[test]
fn check_before_streaming_or_when_disabled_is_an_error() {
    let actions = format!(
        r#"{{"Identifier": "a", "Type": "CheckVoiceId", "Parameters": {{"CheckVoiceIdOption": "voiceAuthentication"}},
             "Transitions": {{"Conditions": [{{"NextAction": "end", "Condition": {{"Operator": "Equals", "Operands": ["Authenticated"]}}}}],
                             "Errors": [{{"ErrorType": "NoMatchingError", "NextAction": "err"}}]}}}}, {END}, {ERR}"#
    );
    let mut port = ScriptedPort {
        evaluation: eval("ACCEPT", "LOW_RISK"),
        ..Default::default()
    };
    let exec = run_small(&actions, &[], &mut port);
    assert_eq!(exec.trace()[0].branch, "Error:NoMatchingError");
    assert!(
        exec.trace()[0].detail.contains("not been started"),
        "{:?}",
        exec.trace()[0]
    );
}

#[test]
fn compare_branches_and_missing_matches_error() {
    let actions = format!(
        r#"{{"Identifier": "a", "Type": "Compare", "Parameters": {{"ComparisonValue": "$.Attributes.tier"}},
             "Transitions": {{"Conditions": [
                {{"NextAction": "end", "Condition": {{"Operator": "NumberGreaterOrEqualTo", "Operands": ["3"]}}}},
                {{"NextAction": "err", "Condition": {{"Operator": "TextStartsWith", "Operands": ["gold"]}}}}],
              "Errors": [{{"ErrorType": "NoMatchingCondition", "NextAction": "err"}}]}}}}, {END}, {ERR}"#
    );
    let mut port = ScriptedPort::default();
    assert_eq!(
        run_small(&actions, &[("tier", "4")], &mut port).trace()[0].branch,
        "Condition:3"
    );
    assert_eq!(
        run_small(&actions, &[("tier", "golden")], &mut port).trace()[0].branch,
        "Condition:gold"
    );
    assert_eq!(
        run_small(&actions, &[("tier", "2")], &mut port).trace()[0].branch,
        "Error:NoMatchingCondition"
    );
    // "abc" is not a number: NumberGreaterOrEqualTo never matches it.
    assert_eq!(
        run_small(&actions, &[("tier", "abc")], &mut port).trace()[0].branch,
        "Error:NoMatchingCondition"
    );
}

#[test]
fn looping_flows_are_stopped() {
    let actions = r#"{"Identifier": "a", "Type": "MessageParticipant", "Parameters": {"Text": "again"}, "Transitions": {"NextAction": "a"}}"#;
    let mut port = ScriptedPort::default();
    let f = Arc::new(flow(actions).unwrap());
    let mut exec = Execution::new(f, voice_contact(None));
    assert_eq!(
        exec.run(&mut port),
        Pause::Finished {
            reason: Finish::StepLimit
        }
    );
}

fn outcome_action(id: &str) -> String {
    format!(
        r#"{{"Identifier": "{id}", "Type": "UpdateContactAttributes", "Parameters": {{"Attributes": {{"Outcome": "{id}"}}}}, "Transitions": {{"NextAction": "end"}}}}"#
    )
}

#[test]
fn engine_condition_takes_the_first_listed_condition_the_call_has() {
    let branch = |operand: &str, next: &str| {
        format!(
            r#"{{"NextAction": "{next}", "Condition": {{"Operator": "Equals", "Operands": ["{operand}"]}}}}"#
        )
    };
    let actions = format!(
        r#"{{"Identifier": "a", "Type": "StartVoiceIdStream", "Parameters": {{}}, "Transitions": {{"NextAction": "b"}}}},
           {{"Identifier": "b", "Type": "CheckVoiceId", "Parameters": {{"CheckVoiceIdOption": "engineCondition"}},
             "Transitions": {{"Conditions": [{}, {}, {}, {}],
                             "Errors": [{{"ErrorType": "NoMatchingCondition", "NextAction": "nomatch"}},
                                        {{"ErrorType": "NoMatchingError", "NextAction": "err"}}]}}}},
           {}, {}, {}, {}, {}, {END}, {ERR}"#,
        branch("Detected", "detected"),
        branch("CoolingOff", "cooling"),
        branch("Verified", "verified"),
        branch("PotentialDetection", "potential"),
        outcome_action("detected"),
        outcome_action("cooling"),
        outcome_action("verified"),
        outcome_action("potential"),
        outcome_action("nomatch"),
    );
    let run = |conditions: &[&str]| {
        let mut port = ScriptedPort {
            evaluation: Evaluation {
                engine_conditions: conditions.iter().map(|c| (*c).to_owned()).collect(),
                ..eval("ACCEPT", "LOW_RISK")
            },
            ..Default::default()
        };
        let exec = run_small(&actions, &[], &mut port);
        exec.contact
            .attributes
            .get("Outcome")
            .cloned()
            .unwrap_or_default()
    };
    // Listed order wins over the order the service reports conditions in.
    assert_eq!(run(&["Verified", "Detected"]), "detected");
    assert_eq!(run(&["Verified", "PotentialDetection"]), "verified");
    assert_eq!(
        run(&["NoVoicePrint", "CoolingOff", "NotDetected"]),
        "cooling"
    );
    assert_eq!(run(&["NoAttribute", "NotDetected"]), "nomatch");
    assert_eq!(run(&[]), "nomatch");
    // Operands outside the option's vocabulary are refused when the flow loads.
    let bad = flow(&format!(
        r#"{{"Identifier": "b", "Type": "CheckVoiceId", "Parameters": {{"CheckVoiceIdOption": "engineCondition"}},
             "Transitions": {{"Conditions": [{}]}}}}, {END}"#,
        branch("Authenticated", "end")
    ));
    assert!(bad.is_err(), "{bad:?}");
}
