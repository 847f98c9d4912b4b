//! `voiceprint voiceprints settings|set|list|describe|approve|reject|segment`: the
//! engine settings and the voiceprint lifecycle (docs/ENGINE-CONDITIONS.md) on a
//! running server, over the API's extension operations (SigV4-signed awsJson1_0).
//! Each command prints the operation's JSON response.

use serde_json::{json, Value};

use super::api::{Client, Connection};
use crate::error::CliError;

/// Engine settings and voiceprints on a running server.
#[derive(Debug, clap::Subcommand)]
pub enum VoiceprintsCommand {
    /// Print the domain's engine settings (DescribeEngineSettings).
    Settings(DomainArgs),
    /// Replace the domain's engine settings with a JSON object (UpdateEngineSettings);
    /// members left out take their defaults.
    Set(SetArgs),
    /// List voiceprints, e.g. `--state PENDING_APPROVAL` for the approval queue.
    List(ListArgs),
    /// A speaker's voiceprint state, training progress and segments.
    Describe(SpeakerArgs),
    /// Put a PENDING_APPROVAL voiceprint into service.
    Approve(SpeakerArgs),
    /// Delete a PENDING_APPROVAL voiceprint and its training segments.
    Reject(SpeakerArgs),
    /// ACCEPT (it is the speaker) or REMOVE a training segment; retrains in the background.
    Segment(SegmentArgs),
}

#[derive(Debug, clap::Args)]
pub struct DomainArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long)]
    pub domain_id: String,
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub domain: DomainArgs,
    /// EngineSettings as JSON, e.g. '{"MinimumCallsForVoiceprint": 3, "RequireApproval": true}'.
    #[arg(long)]
    pub settings: String,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub domain: DomainArgs,
    /// NOT_TRAINED, PARTIALLY_TRAINED, PENDING_APPROVAL, TRAINED or INVALIDATED.
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SpeakerArgs {
    #[command(flatten)]
    pub domain: DomainArgs,
    /// CustomerSpeakerId or GeneratedSpeakerId.
    #[arg(long)]
    pub speaker_id: String,
}

#[derive(Debug, clap::Args)]
pub struct SegmentArgs {
    #[command(flatten)]
    pub speaker: SpeakerArgs,
    #[arg(long)]
    pub segment_id: String,
    /// ACCEPT or REMOVE.
    #[arg(long)]
    pub action: String,
}

fn speaker_call(op: &str, a: &SpeakerArgs, extra: Value) -> Result<Value, CliError> {
    let mut body = json!({"DomainId": a.domain.domain_id, "SpeakerId": a.speaker_id});
    if let (Some(b), Value::Object(more)) = (body.as_object_mut(), extra) {
        b.extend(more);
    }
    Client::new(&a.domain.connection)?.call(op, &body)
}

pub fn run(cmd: VoiceprintsCommand) -> Result<(), CliError> {
    let out = match cmd {
        VoiceprintsCommand::Settings(a) => Client::new(&a.connection)?
            .call("DescribeEngineSettings", &json!({"DomainId": a.domain_id}))?,
        VoiceprintsCommand::Set(a) => {
            let settings: Value = serde_json::from_str(&a.settings)
                .map_err(|e| CliError::Usage(format!("--settings is not JSON: {e}")))?;
            Client::new(&a.domain.connection)?.call(
                "UpdateEngineSettings",
                &json!({"DomainId": a.domain.domain_id, "EngineSettings": settings}),
            )?
        }
        VoiceprintsCommand::List(a) => {
            // Follows NextToken so the whole list prints as one JSON array.
            let client = Client::new(&a.domain.connection)?;
            let mut all = Vec::new();
            let mut next: Option<String> = None;
            loop {
                let mut body = json!({"DomainId": a.domain.domain_id, "MaxResults": 100});
                if let Some(s) = &a.state {
                    body["State"] = json!(s);
                }
                if let Some(t) = &next {
                    body["NextToken"] = json!(t);
                }
                let page = client.call("ListVoiceprints", &body)?;
                all.extend(page["Voiceprints"].as_array().cloned().unwrap_or_default());
                next = page["NextToken"].as_str().map(str::to_owned);
                if next.is_none() {
                    break json!({"Voiceprints": all});
                }
            }
        }
        VoiceprintsCommand::Describe(a) => speaker_call("DescribeVoiceprint", &a, json!({}))?,
        VoiceprintsCommand::Approve(a) => speaker_call("ApproveVoiceprint", &a, json!({}))?,
        VoiceprintsCommand::Reject(a) => speaker_call("RejectVoiceprint", &a, json!({}))?,
        VoiceprintsCommand::Segment(a) => speaker_call(
            "UpdateTrainingSegment",
            &a.speaker,
            json!({"SegmentId": a.segment_id, "Action": a.action}),
        )?,
    };
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}
