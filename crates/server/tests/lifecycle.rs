//! Engine conditions and the voiceprint lifecycle (issue 5), end to end: a real
//! server with the real CAM++ model, espeak-ng speech through sox as 8 kHz μ-law
//! POSTed into live sessions, domain engine settings, and the lifecycle operations.
//!
//! - multi-call training → PARTIALLY_TRAINED → PENDING_APPROVAL → approval →
//!   cooling-off → Verified; impostor Not Verified; a call that stops early;
//!   No Attribute; Unknown Person; Opted Out; reject.
//! - ENHANCE → INVALIDATED → background retraining → TRAINED; another voice's call
//!   flagged INVALID and blocking; removal → retrained.
//! - watchlist Detected / Potential Detection and cooling-off after fraud detection.
//!
//! Voices (separable with CAM++ on this channel): A = `en-us+m3` (the customer),
//! B = `en-us+f4` (an impostor), C = `en-gb-scotland+m5` (a fraudster).
//! Skips with a message when the weights, espeak-ng or sox are missing.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::speech::*;
use common::Client;

/// Another call of over 30 s, different words.
const LONG_TEXT_2: &str = "Good afternoon, I would like to report that my debit card was declined at the grocery store this morning. \
I checked my balance online and there should be plenty of money in the checking account. \
The last purchase I made was at the pharmacy on Tuesday, for about forty dollars, and that one went through without a problem. \
Could you please look into it and tell me whether there is a hold on my card, and if so, why it was placed? \
I would also like to update my phone number, because I changed carriers a few weeks ago and the old number no longer works. \
And while I have you on the line, please send the statements for the last three months to my new email address.";

/// About 2 s: less than any response time.
const TINY_TEXT: &str = "Hello, it is me again.";

struct Domain {
    c: Client,
    id: String,
    audio: PathBuf,
    calls: std::sync::atomic::AtomicUsize,
}

impl Domain {
    async fn new(c: Client, audio: &Path) -> Self {
        let id = c
            .ok("CreateDomain", json!({"Name": "lifecycle", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}))
            .await["Domain"]["DomainId"]
            .as_str()
            .unwrap()
            .to_owned();
        Domain {
            c,
            id,
            audio: audio.to_owned(),
            calls: Default::default(),
        }
    }

    async fn settings(&self, settings: Value) {
        let r = self
            .c
            .ok(
                "UpdateEngineSettings",
                json!({"DomainId": self.id, "EngineSettings": settings}),
            )
            .await;
        assert_eq!(r["EngineSettings"]["IdentificationAttribute"], "CustomerId");
    }

    /// One call: a session for `speaker` (none = no CustomerId), an optional
    /// EnrollBySession with `enroll` as the action before the audio, the audio by
    /// `voice`, the session ended. Returns (session name, EnrollBySession response).
    async fn call(
        &self,
        speaker: Option<&str>,
        voice: &str,
        text: &str,
        enroll: Option<&str>,
    ) -> (String, Option<Value>) {
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("call-{n}");
        let mut start = json!({"DomainId": self.id, "SessionName": name});
        if let Some(s) = speaker {
            start["SpeakerId"] = json!(s);
        }
        self.c.ok("StartSession", start).await;
        let enrolled = match enroll {
            Some(action) => Some(
                self.c
                    .ok(
                        "EnrollBySession",
                        json!({"DomainId": self.id, "SessionNameOrId": name,
                               "ExistingEnrollmentAction": action}),
                    )
                    .await,
            ),
            None => None,
        };
        common::post_audio(
            &self.c,
            &self.id,
            &name,
            "encoding=mulaw&sample_rate=8000&end=true",
            &mulaw_speech(&self.audio, voice, text),
        )
        .await;
        (name, enrolled)
    }

    async fn evaluate(&self, session: &str) -> Value {
        self.c
            .ok(
                "EvaluateSession",
                json!({"DomainId": self.id, "SessionNameOrId": session}),
            )
            .await
    }

    async fn enrollment(&self, session: &str) -> Value {
        self.c
            .ok(
                "DescribeSession",
                json!({"DomainId": self.id, "SessionNameOrId": session}),
            )
            .await["Session"]["EnrollmentRequestDetails"]
            .clone()
    }

    async fn voiceprint(&self, speaker: &str) -> Value {
        self.c
            .ok(
                "DescribeVoiceprint",
                json!({"DomainId": self.id, "SpeakerId": speaker}),
            )
            .await["Voiceprint"]
            .clone()
    }

    /// DescribeVoiceprint until `done` holds (background retraining).
    async fn voiceprint_until(&self, speaker: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.voiceprint(speaker).await;
            if done(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "voiceprint never got there: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn conditions(eval: &Value) -> Vec<&str> {
    eval["EngineConditions"]["Conditions"]
        .as_array()
        .unwrap_or_else(|| panic!("no EngineConditions in {eval}"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

fn decision(eval: &Value) -> &str {
    eval["AuthenticationResult"]["Decision"].as_str().unwrap()
}

async fn setup() -> Option<(tempfile::TempDir, voiceprint_server::RunningServer, Domain)> {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let (server, c) = start_with_models(&dir.path().join("data")).await;
    let domain = Domain::new(c, &audio).await;
    Some((dir, server, domain))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_call_training_approval_cooling_off_and_verification() {
    let Some((_dir, server, d)) = setup().await else {
        return;
    };
    // Defaults are Voice ID's.
    let defaults =
        d.c.ok("DescribeEngineSettings", json!({"DomainId": d.id}))
            .await;
    assert_eq!(defaults["EngineSettings"]["MinimumCallsForVoiceprint"], 1);
    assert_eq!(defaults["EngineSettings"]["RequireApproval"], false);
    d.settings(
        json!({"MinimumCallsForVoiceprint": 2, "MinimumSegmentSpeechSeconds": 5,
                      "RequireApproval": true, "CoolingOff": {"AfterEnrollmentSeconds": 20}}),
    )
    .await;
    // Bad settings are refused in the API's error format, and change nothing.
    d.c.err(
        "UpdateEngineSettings",
        json!({"DomainId": d.id, "EngineSettings": {"MinimumCallsForVoiceprint": 0}}),
        "ValidationException",
    )
    .await;

    // No CustomerId on the call: No Attribute. Unknown customer: Unknown Person.
    let (anon, _) = d.call(None, VOICE_A, SHORT_TEXT, None).await;
    assert_eq!(
        conditions(&d.evaluate(&anon).await),
        ["NoAttribute", "NotDetected"]
    );
    let (unknown, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    let e = d.evaluate(&unknown).await;
    assert_eq!(
        conditions(&e),
        ["NoVoicePrint", "UnknownPerson", "NotDetected"]
    );
    assert_eq!(decision(&e), "SPEAKER_NOT_ENROLLED");

    // First call (12 s): one of two calls, too little speech → partially trained.
    let (first, enroll) = d
        .call(Some("cust-a"), VOICE_A, SHORT_TEXT, Some("SKIP"))
        .await;
    assert_eq!(
        enroll.unwrap()["Status"],
        "IN_PROGRESS",
        "waits for the call to end"
    );
    let details = d.enrollment(&first).await;
    assert_eq!(details["Status"], "COMPLETED", "{details}");
    assert_eq!(details["VoiceprintState"], "PARTIALLY_TRAINED");
    let vp = d.voiceprint("cust-a").await;
    assert_eq!(
        (
            vp["State"].as_str(),
            vp["Calls"].as_u64(),
            vp["RequiredCalls"].as_u64()
        ),
        (Some("PARTIALLY_TRAINED"), Some(1), Some(2))
    );
    assert_eq!(vp["SpeakerStatus"], "PENDING");
    let (probe, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    let e = d.evaluate(&probe).await;
    assert_eq!(
        conditions(&e),
        ["NoVoicePrint", "PartiallyTrained", "NotDetected"]
    );
    assert_eq!(decision(&e), "SPEAKER_NOT_ENROLLED");

    // Second call (30+ s): trained, but the domain wants approval.
    let (second, _) = d
        .call(Some("cust-a"), VOICE_A, LONG_TEXT, Some("SKIP"))
        .await;
    assert_eq!(
        d.enrollment(&second).await["VoiceprintState"],
        "PENDING_APPROVAL"
    );
    let queue =
        d.c.ok(
            "ListVoiceprints",
            json!({"DomainId": d.id, "State": "PENDING_APPROVAL"}),
        )
        .await;
    let queued: Vec<&str> = queue["Voiceprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["CustomerSpeakerId"].as_str().unwrap())
        .collect();
    assert_eq!(queued, ["cust-a"]);
    let (probe, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    assert_eq!(
        conditions(&d.evaluate(&probe).await),
        ["NoVoicePrint", "PendingApproval", "NotDetected"]
    );

    // Approved: in service, cooling off for 20 s after enrollment (long enough for a
    // call to be streamed and scored inside it on a loaded 2-core machine).
    let approved =
        d.c.ok(
            "ApproveVoiceprint",
            json!({"DomainId": d.id, "SpeakerId": "cust-a"}),
        )
        .await["Voiceprint"]
            .clone();
    assert_eq!(approved["State"], "TRAINED");
    assert_eq!(approved["SpeakerStatus"], "ENROLLED");
    assert_eq!(approved["CoolingOffReason"], "ENROLLMENT");
    assert_eq!(approved["Segments"].as_array().unwrap().len(), 2);
    d.c.err(
        "ApproveVoiceprint",
        json!({"DomainId": d.id, "SpeakerId": "cust-a"}),
        "ConflictException",
    )
    .await;
    let (genuine, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    let e = d.evaluate(&genuine).await;
    assert_eq!(
        conditions(&e),
        ["NoVoicePrint", "CoolingOff", "NotDetected"]
    );
    assert_eq!(decision(&e), "SPEAKER_NOT_ENROLLED");

    // After cooling-off the same call verifies (a new result: the state changed).
    let until = approved["CoolingOffUntil"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64((until - now).max(0.0) + 0.2)).await;
    let e = d.evaluate(&genuine).await;
    assert_eq!(decision(&e), "ACCEPT", "{e}");
    assert_eq!(conditions(&e), ["Verified", "NotDetected"]);
    let ec = &e["EngineConditions"];
    assert!(
        ec["VerificationScore"].as_u64().unwrap()
            > ec["MinimumVerificationScore"].as_u64().unwrap()
    );
    // DescribeSession reports the same conditions.
    let s =
        d.c.ok(
            "DescribeSession",
            json!({"DomainId": d.id, "SessionNameOrId": genuine}),
        )
        .await;
    assert_eq!(s["Session"]["EngineConditions"]["Verification"], "VERIFIED");

    // An impostor claiming the customer: Not Verified (score at or below minimum).
    let (impostor, _) = d.call(Some("cust-a"), VOICE_B, SHORT_TEXT, None).await;
    let e = d.evaluate(&impostor).await;
    assert_eq!(decision(&e), "REJECT");
    assert_eq!(conditions(&e), ["NotVerified", "NotDetected"]);
    assert_eq!(
        e["EngineConditions"]["NotVerifiedReason"],
        "SCORE_AT_OR_BELOW_MINIMUM"
    );

    // A call that stopped before enough speech: Not Verified, audio stopped.
    let (short, _) = d.call(Some("cust-a"), VOICE_A, TINY_TEXT, None).await;
    let e = d.evaluate(&short).await;
    assert_eq!(decision(&e), "NOT_ENOUGH_SPEECH");
    assert_eq!(conditions(&e), ["NotVerified"]);
    assert_eq!(e["EngineConditions"]["NotVerifiedReason"], "AUDIO_STOPPED");

    // Opted out: No Voice Print (opted out), training segments deleted with it.
    d.c.ok(
        "OptOutSpeaker",
        json!({"DomainId": d.id, "SpeakerId": "cust-a"}),
    )
    .await;
    let vp = d.voiceprint("cust-a").await;
    assert_eq!(vp["Segments"].as_array().unwrap().len(), 0);
    let (opted, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    let e = d.evaluate(&opted).await;
    assert_eq!(conditions(&e), ["NoVoicePrint", "OptedOut", "NotDetected"]);
    assert_eq!(decision(&e), "SPEAKER_OPTED_OUT");

    // Reject: a second customer's pending voiceprint is discarded, segments too.
    d.settings(json!({"RequireApproval": true})).await;
    d.call(Some("cust-b"), VOICE_B, LONG_TEXT, Some("SKIP"))
        .await;
    assert_eq!(d.voiceprint("cust-b").await["State"], "PENDING_APPROVAL");
    let rejected =
        d.c.ok(
            "RejectVoiceprint",
            json!({"DomainId": d.id, "SpeakerId": "cust-b"}),
        )
        .await["Voiceprint"]
            .clone();
    assert_eq!(rejected["State"], "NOT_TRAINED");
    assert_eq!(rejected["Segments"].as_array().unwrap().len(), 0);
    let (after_reject, _) = d.call(Some("cust-b"), VOICE_B, SHORT_TEXT, None).await;
    let e = d.evaluate(&after_reject).await;
    assert_eq!(conditions(&e), ["NoVoicePrint", "NotTrained", "NotDetected"]);
    assert_eq!(decision(&e), "SPEAKER_NOT_ENROLLED");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enhance_invalid_segment_and_background_retraining() {
    let Some((_dir, server, d)) = setup().await else {
        return;
    };
    // Default settings: one call of 30 s trains at once (Voice ID).
    let (first, _) = d
        .call(Some("cust-a"), VOICE_A, LONG_TEXT, Some("SKIP"))
        .await;
    let details = d.enrollment(&first).await;
    assert_eq!(
        (
            details["Status"].as_str(),
            details["EnrollmentOutcome"].as_str(),
            details["VoiceprintState"].as_str()
        ),
        (Some("COMPLETED"), Some("NEW_ENROLLMENT"), Some("TRAINED"))
    );

    // ENHANCE: the call is added; the voiceprint is unusable until retrained.
    let (second, _) = d
        .call(Some("cust-a"), VOICE_A, LONG_TEXT_2, Some("ENHANCE"))
        .await;
    let details = d.enrollment(&second).await;
    assert_eq!(
        details["EnrollmentOutcome"], "ENROLLMENT_ENHANCED",
        "{details}"
    );
    assert_eq!(details["VoiceprintState"], "INVALIDATED");
    let vp = d
        .voiceprint_until("cust-a", |v| v["State"] == "TRAINED")
        .await;
    assert_eq!(vp["Calls"], 2);
    assert_eq!(vp["RetrainingPending"], false);
    let scores: Vec<u64> = vp["Segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Score"].as_u64())
        .collect();
    assert_eq!(
        scores.len(),
        1,
        "the second segment was scored against the first: {vp}"
    );
    assert!(scores[0] >= 30, "same voice scored {}", scores[0]);
    let (probe, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    assert_eq!(decision(&d.evaluate(&probe).await), "ACCEPT");

    // Another person's call added to the voiceprint: flagged INVALID, blocks it.
    let (bad, _) = d
        .call(Some("cust-a"), VOICE_B, LONG_TEXT_2, Some("ENHANCE"))
        .await;
    assert_eq!(d.enrollment(&bad).await["Status"], "COMPLETED");
    let vp = d
        .voiceprint_until("cust-a", |v| v["RetrainingPending"] == false)
        .await;
    assert_eq!(vp["State"], "INVALIDATED", "{vp}");
    assert_eq!(vp["InvalidSegments"], 1);
    let invalid = vp["Segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Status"] == "INVALID")
        .unwrap()
        .clone();
    assert!(invalid["Score"].as_u64().unwrap() < 30, "{invalid}");
    let listed =
        d.c.ok(
            "ListVoiceprints",
            json!({"DomainId": d.id, "State": "INVALIDATED"}),
        )
        .await;
    assert_eq!(listed["Voiceprints"].as_array().unwrap().len(), 1);
    let (probe, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    let e = d.evaluate(&probe).await;
    assert_eq!(
        conditions(&e),
        ["NoVoicePrint", "Invalidated", "NotDetected"]
    );
    assert_eq!(decision(&e), "SPEAKER_NOT_ENROLLED");

    // The operator removes it: retrained from the two valid calls.
    d.c.err("UpdateTrainingSegment",
            json!({"DomainId": d.id, "SpeakerId": "cust-a", "SegmentId": "abcdefghijABCDEFGHIJ12", "Action": "REMOVE"}),
            "ResourceNotFoundException").await;
    d.c.ok("UpdateTrainingSegment",
           json!({"DomainId": d.id, "SpeakerId": "cust-a", "SegmentId": invalid["SegmentId"], "Action": "REMOVE"}))
        .await;
    let vp = d
        .voiceprint_until("cust-a", |v| v["State"] == "TRAINED")
        .await;
    assert_eq!(
        (vp["Calls"].as_u64(), vp["InvalidSegments"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(vp["Segments"].as_array().unwrap().len(), 2);
    let e = d.evaluate(&probe).await;
    assert_eq!(decision(&e), "ACCEPT", "{e}");
    assert_eq!(conditions(&e), ["Verified", "NotDetected"]);

    // SKIP leaves a trained voiceprint alone; OVERWRITE starts it again.
    let (skip, _) = d
        .call(Some("cust-a"), VOICE_A, LONG_TEXT, Some("SKIP"))
        .await;
    assert_eq!(
        d.enrollment(&skip).await["EnrollmentOutcome"],
        "DUPLICATE_SKIPPED"
    );
    let (over, _) = d
        .call(Some("cust-a"), VOICE_A, LONG_TEXT_2, Some("OVERWRITE"))
        .await;
    assert_eq!(
        d.enrollment(&over).await["EnrollmentOutcome"],
        "ENROLLMENT_OVERWRITE"
    );
    assert_eq!(
        d.voiceprint("cust-a").await["Segments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Deleting the speaker deletes its voiceprint and segments.
    d.c.ok(
        "DeleteSpeaker",
        json!({"DomainId": d.id, "SpeakerId": "cust-a"}),
    )
    .await;
    d.c.err(
        "DescribeVoiceprint",
        json!({"DomainId": d.id, "SpeakerId": "cust-a"}),
        "ResourceNotFoundException",
    )
    .await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchlist_detection_bands_and_cooling_off_after_fraud() {
    let Some((_dir, server, d)) = setup().await else {
        return;
    };
    d.call(Some("cust-a"), VOICE_A, LONG_TEXT, Some("SKIP"))
        .await;
    // The fraudster's voice on the default watchlist.
    let (fraud_call, _) = d.call(None, VOICE_C, LONG_TEXT_2, None).await;
    let fraudster =
        d.c.ok(
            "RegisterFraudsterBySession",
            json!({"DomainId": d.id, "SessionNameOrId": fraud_call}),
        )
        .await["GeneratedFraudsterId"]
            .as_str()
            .unwrap()
            .to_owned();

    // A threshold no score is above, and a potential band from 0: Potential Detection.
    d.settings(json!({"Detection": {"MinimumScore": 100, "PotentialDetectionMinimumScore": 0}}))
        .await;
    let (attack, _) = d.call(Some("cust-a"), VOICE_C, SHORT_TEXT, None).await;
    let e = d.evaluate(&attack).await;
    assert_eq!(conditions(&e), ["NotVerified", "PotentialDetection"], "{e}");
    assert_eq!(
        e["EngineConditions"]["GeneratedFraudsterId"],
        fraudster.as_str()
    );
    assert_eq!(e["EngineConditions"]["DetectionThreshold"], 100);

    // Default thresholds (Voice ID's RiskThreshold 50) and cooling-off after fraud.
    d.settings(json!({"CoolingOff": {"AfterFraudDetectionSeconds": 600}}))
        .await;
    let (attack, _) = d.call(Some("cust-a"), VOICE_C, SHORT_TEXT, None).await;
    let e = d.evaluate(&attack).await;
    assert_eq!(e["FraudDetectionResult"]["Decision"], "HIGH_RISK");
    // The detection put the claimed customer's voiceprint into cooling-off (the
    // stream's own evaluation at the end of the call already saw it), so the
    // identification now reads No Voice Print.
    assert_eq!(
        conditions(&e),
        ["NoVoicePrint", "CoolingOff", "Detected"],
        "{e}"
    );
    let vp = d.voiceprint("cust-a").await;
    assert_eq!(vp["CoolingOffReason"], "FRAUD_DETECTION", "{vp}");
    // The real customer's next call: voiceprint cooling off, nothing detected.
    let (genuine, _) = d.call(Some("cust-a"), VOICE_A, SHORT_TEXT, None).await;
    let e = d.evaluate(&genuine).await;
    assert_eq!(
        conditions(&e),
        ["NoVoicePrint", "CoolingOff", "NotDetected"],
        "{e}"
    );
    assert_eq!(decision(&e), "SPEAKER_NOT_ENROLLED");
    server.stop().await.unwrap();
}

/// A flow that streams the call, waits, and branches on the engine condition.
fn engine_condition_flow(wait_seconds: u32) -> String {
    let outcome = |id: &str| {
        format!(
            r#"{{"Identifier": "{id}", "Type": "UpdateContactAttributes", "Parameters": {{"Attributes": {{"Outcome": "{id}"}}}}, "Transitions": {{"NextAction": "end"}}}}"#
        )
    };
    let branch = |operand: &str, next: &str| {
        format!(
            r#"{{"NextAction": "{next}", "Condition": {{"Operator": "Equals", "Operands": ["{operand}"]}}}}"#
        )
    };
    format!(
        r#"{{"Version": "2019-10-30", "StartAction": "set", "Actions": [
          {{"Identifier": "set", "Type": "SetVoiceId",
           "Parameters": {{"IsVoiceIdStreamingEnabled": "true", "IsVoiceAuthenticationEnabled": "true",
                          "VoiceAuthenticationResponseTime": "5"}},
           "Transitions": {{"NextAction": "speak", "Errors": [{{"ErrorType": "NoMatchingError", "NextAction": "error"}}]}}}},
          {{"Identifier": "speak", "Type": "Wait", "Parameters": {{"TimeoutSeconds": "{wait_seconds}"}}, "Transitions": {{"NextAction": "check"}}}},
          {{"Identifier": "check", "Type": "CheckVoiceId", "Parameters": {{"CheckVoiceIdOption": "engineCondition"}},
           "Transitions": {{"Conditions": [{}, {}, {}, {}],
              "Errors": [{{"ErrorType": "NoMatchingCondition", "NextAction": "nomatch"}}, {{"ErrorType": "NoMatchingError", "NextAction": "error"}}]}}}},
          {}, {}, {}, {}, {}, {},
          {{"Identifier": "end", "Type": "EndFlowExecution", "Parameters": {{}}, "Transitions": {{}}}}]}}"#,
        branch("Verified", "verified"),
        branch("NotVerified", "notverified"),
        branch("NoVoicePrint", "novoiceprint"),
        branch("NoAttribute", "noattribute"),
        outcome("verified"),
        outcome("notverified"),
        outcome("novoiceprint"),
        outcome("noattribute"),
        outcome("nomatch"),
        outcome("error"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flows_branch_on_engine_conditions_found_by_the_identification_attribute() {
    let Some((_dir, server, d)) = setup().await else {
        return;
    };
    d.call(Some("cust-a"), VOICE_A, LONG_TEXT, Some("SKIP"))
        .await;
    // The domain identifies callers by the contact attribute AccountNumber.
    d.c.ok(
        "UpdateEngineSettings",
        json!({"DomainId": d.id, "EngineSettings": {"IdentificationAttribute": "AccountNumber"}}),
    )
    .await;
    let flow = engine_condition_flow(8);
    let contact = |id: &str, attrs: Value| json!({"DomainId": d.id, "ContactId": id, "FlowJson": flow, "Channel": "VOICE", "Attributes": attrs});
    let run = |id: &'static str, attrs: Value, voice: &'static str| {
        let d = &d;
        let input = contact(id, attrs);
        async move {
            d.c.ok("StartContact", input).await;
            common::post_audio(
                &d.c,
                &d.id,
                id,
                "encoding=mulaw&sample_rate=8000",
                &mulaw_speech(&d.audio, voice, SHORT_TEXT),
            )
            .await;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let c =
                    d.c.ok(
                        "DescribeContact",
                        json!({"DomainId": d.id, "ContactId": id}),
                    )
                    .await["Contact"]
                        .clone();
                if c["Status"] == "ENDED" {
                    return c["Attributes"]["Outcome"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                }
                assert!(Instant::now() < deadline, "contact {id} did not end: {c}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(
        run("flow-1", json!({"AccountNumber": "cust-a"}), VOICE_A).await,
        "verified"
    );
    assert_eq!(
        run("flow-2", json!({"AccountNumber": "cust-a"}), VOICE_B).await,
        "notverified"
    );
    assert_eq!(
        run("flow-3", json!({"AccountNumber": "cust-zz"}), VOICE_A).await,
        "novoiceprint"
    );
    assert_eq!(
        run("flow-4", json!({"Other": "x"}), VOICE_A).await,
        "noattribute"
    );
    server.stop().await.unwrap();
}
