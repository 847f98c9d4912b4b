//! `voiceprint-server`: the API server alone (the same code as `voiceprint serve`),
//! plus `admin seed-speakers` for benchmarks.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc (built from its vendored C source): under 64 concurrent requests glibc
/// malloc spent a quarter of ListSpeakers' CPU in its arenas (consolidation,
/// lock waits); each page allocates hundreds of short-lived strings.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "voiceprint-server",
    version,
    about = "Amazon Voice ID compatible API server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Voice ID API server.
    Serve(voiceprint_server::ServeArgs),
    /// Administrative tasks on a data directory.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// Bulk-store ENROLLED speakers with synthetic voiceprints (benchmarks).
    SeedSpeakers(voiceprint_server::SeedArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => voiceprint_server::run(args),
        Command::Admin(Admin::SeedSpeakers(args)) => {
            voiceprint_server::seed_speakers(args).map(|_| ())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
