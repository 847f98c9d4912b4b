//! `voiceprint flow validate FLOW.json...`: load Amazon Connect flow-language
//! exports the way the server will run them, and report what cannot run (unknown
//! action types, dangling transitions, static Voice ID values out of range) with
//! the action's identifier.
//!
//! `voiceprint flow run FLOW.json --domain-id D --audio call.wav --attr K=V`: run a
//! flow on a running server as one call (StartContact, the recording POSTed into
//! the contact's session, DescribeContact until the flow ends) and print the trace.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use voiceprint_flows::Flow;

use super::api::{Client, Connection};
use crate::error::CliError;

#[derive(Debug, clap::Subcommand)]
pub enum FlowCommand {
    /// Check flows; prints `FILE: ok (N actions, starts at ID)` or the first problem.
    Validate {
        /// Flow-language JSON files (as exported from Amazon Connect).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a flow on a running server as one call and print the path it took.
    Run(Box<RunArgs>),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Flow-language JSON file.
    pub flow: PathBuf,
    /// Voice ID domain the call belongs to.
    #[arg(long)]
    pub domain_id: String,
    /// The caller's recording (any format the server decodes), streamed into the call's session.
    #[arg(long)]
    pub audio: Option<PathBuf>,
    /// Contact attribute NAME=VALUE (repeatable); `CustomerId=...` sets the Customer ID.
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
    /// VOICE, CHAT or TASK.
    #[arg(long, default_value = "VOICE")]
    pub channel: String,
    /// Contact id (= session name); a new one when omitted.
    #[arg(long)]
    pub contact_id: Option<String>,
    /// Give up waiting for the flow to end after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_seconds: u64,
}

pub fn run(cmd: FlowCommand) -> Result<(), CliError> {
    match cmd {
        FlowCommand::Run(args) => run_flow(*args),
        FlowCommand::Validate { files } => {
            let mut invalid = 0;
            for path in &files {
                let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
                match Flow::from_json(&text) {
                    Ok(flow) => println!(
                        "{}: ok ({} actions, starts at {})",
                        path.display(),
                        flow.len(),
                        flow.start_action
                    ),
                    Err(e) => {
                        invalid += 1;
                        println!("{}: invalid: {e}", path.display());
                    }
                }
            }
            if invalid > 0 {
                return Err(CliError::Failed(format!(
                    "{invalid} of {} flows are invalid",
                    files.len()
                )));
            }
            Ok(())
        }
    }
}

fn run_flow(args: RunArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.flow).map_err(|e| CliError::io(&args.flow, e))?;
    // Refuse a broken flow here, with the same message the server would give.
    Flow::from_json(&text)
        .map_err(|e| CliError::Failed(format!("{}: {e}", args.flow.display())))?;
    let mut attributes = Map::new();
    let mut customer_id = None;
    for pair in &args.attributes {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--attr {pair:?}: expected NAME=VALUE")))?;
        if name == "CustomerId" {
            customer_id = Some(value.to_owned());
        } else {
            attributes.insert(name.to_owned(), json!(value));
        }
    }
    let audio = match &args.audio {
        Some(path) => Some(std::fs::read(path).map_err(|e| CliError::io(path, e))?),
        None => None,
    };
    let client = Client::new(&args.connection)?;
    let mut request = json!({"DomainId": args.domain_id, "FlowJson": text, "Channel": args.channel,
                             "Attributes": attributes});
    if let Some(id) = &args.contact_id {
        request["ContactId"] = json!(id);
    }
    if let Some(id) = customer_id {
        request["CustomerId"] = json!(id);
    }
    let mut contact = client.call("StartContact", &request)?["Contact"].take();
    let contact_id = contact["ContactId"].as_str().unwrap_or_default().to_owned();
    if let Some(audio) = audio {
        if contact["Status"] != "ENDED" {
            client.post(
                &format!("/v1/sessions/{}/{contact_id}/audio", args.domain_id),
                "",
                &audio,
            )?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout_seconds);
    while contact["Status"] != "ENDED" {
        if Instant::now() > deadline {
            print_trace(&contact);
            return Err(CliError::Failed(format!(
                "contact {contact_id} still {} after {} s",
                contact["Status"], args.timeout_seconds
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
        contact = client.call(
            "DescribeContact",
            &json!({"DomainId": args.domain_id, "ContactId": contact_id}),
        )?["Contact"]
            .take();
    }
    print_trace(&contact);
    Ok(())
}

/// One line per action, then the attributes the flow left.
fn print_trace(contact: &Value) {
    println!(
        "contact {} ({}, {})",
        contact["ContactId"].as_str().unwrap_or(""),
        contact["Channel"].as_str().unwrap_or(""),
        contact["Status"].as_str().unwrap_or("")
    );
    for step in contact["Trace"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {:<24} {:<28} {}",
            step["Identifier"].as_str().unwrap_or(""),
            step["Type"].as_str().unwrap_or(""),
            step["Branch"].as_str().unwrap_or(""),
            step["Detail"].as_str().unwrap_or("")
        );
    }
    println!("attributes: {}", contact["Attributes"]);
}
