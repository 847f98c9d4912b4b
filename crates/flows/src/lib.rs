//! voiceprint-flows: runs the Voice ID parts of Amazon Connect flows.
//!
//! What it does: loads the flow-language JSON Connect exports ([`Flow`]),
//! refusing at load time what can never run (unknown action types, dangling
//! transitions, static Voice ID values out of range), and runs it for one contact
//! ([`Execution`]) with the branch rules of the Set Voice ID and Check Voice ID
//! blocks (voiceid-api.md §2): voice channel only, streaming cannot be stopped once
//! started, dynamic values checked when read, decisions mapped to the exact branch
//! operands (Enrolled, NotEnrolled, OptedOut, Authenticated, NotAuthenticated,
//! Inconclusive, HighRisk, LowRisk).
//!
//! What it does not do: I/O. Voice ID calls go through [`VoiceIdPort`] (the server
//! implements it over live sessions); `Wait` returns control to the caller, who
//! resumes the execution when the time is up. No speech synthesis: prompts are
//! recorded in the trace.
//!
//! Key decision: sans-IO, so every routing rule is a unit test and the same
//! interpreter serves the server, the CLI and tests.

pub mod model;
pub mod run;

pub use model::{Action, ActionKind, CheckOption, Flow};
pub use run::{
    Channel, Contact, Evaluation, Execution, Finish, Pause, TraceStep, VoiceIdPort, VoiceIdSettings,
};

/// Everything that can go wrong loading a flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The flow cannot run; `action` names the offending action when there is one.
    #[error("{}{message}", action.as_ref().map(|a| format!("action {a}: ")).unwrap_or_default())]
    Invalid {
        action: Option<String>,
        message: String,
    },
}
