//! `voiceprint serve` and `voiceprint admin seed-speakers`: glue over
//! `voiceprint-server`, where all the logic lives.

use crate::error::CliError;

pub use voiceprint_server::{SeedArgs, ServeArgs};

/// Administrative tasks on a server's data directory.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Bulk-store ENROLLED speakers with synthetic voiceprints (benchmarks).
    SeedSpeakers(SeedArgs),
}

pub fn run(args: ServeArgs) -> Result<(), CliError> {
    voiceprint_server::run(args).map_err(|e| CliError::Failed(e.to_string()))
}

pub fn run_admin(cmd: AdminCommand) -> Result<(), CliError> {
    match cmd {
        AdminCommand::SeedSpeakers(args) => {
            voiceprint_server::seed_speakers(args).map(|_| ()).map_err(|e| CliError::Failed(e.to_string()))
        }
    }
}
