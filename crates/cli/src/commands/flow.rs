//! `voiceprint flow validate FLOW.json...`: load Amazon Connect flow-language
//! exports the way the server will run them, and report what cannot run (unknown
//! action types, dangling transitions, static Voice ID values out of range) with
//! the action's identifier.

use std::path::PathBuf;

use voiceprint_flows::Flow;

use crate::error::CliError;

#[derive(Debug, clap::Subcommand)]
pub enum FlowCommand {
    /// Check flows; prints `FILE: ok (N actions, starts at ID)` or the first problem.
    Validate {
        /// Flow-language JSON files (as exported from Amazon Connect).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(cmd: FlowCommand) -> Result<(), CliError> {
    match cmd {
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
