//! `voiceprint`: command line for the voiceprint speaker-verification engine.
//!
//! Embeds recordings, compares an enrollment with a test recording on the calibrated
//! 0–100 scale, evaluates trial lists (EER, minDCF, DET plots), refits the calibration
//! and benchmarks the models. It does not hold state: enrollment storage and the
//! Voice ID API live in the server. Key decision: this file is glue only — one module per
//! subcommand under `commands/`, and errors become exit codes in exactly one place
//! ([`error::CliError::exit_code`]).

mod commands;
mod error;
mod model;
mod plot;
mod trials;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc (vendored C source, nothing downloaded): `voiceprint serve` allocates per
/// request from many threads, where glibc malloc cost about a quarter of the CPU
/// (docs/BENCHMARKS.md); same choice as the `voiceprint-server` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted voice biometrics: speaker embeddings, scoring and evaluation.
#[derive(Debug, Parser)]
#[command(
    name = "voiceprint",
    version,
    after_help = "Exit status: 0 success, 1 runtime error (bad audio, missing file, model error), \
                  2 usage error.\nLogs go to stderr; set VOICEPRINT_LOG (e.g. `info`, `debug`) to see more."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print one JSON line per file with its speaker embedding.
    Embed(commands::embed::EmbedArgs),
    /// Score a test recording against an enrollment (one or more recordings).
    Compare(commands::compare::CompareArgs),
    /// Evaluate a trial list: EER, minDCF, FRR at FAR 1 %, rates at threshold 90, DET plot.
    Eval(commands::eval::EvalArgs),
    /// Refit the raw-score → 0–100 calibration on development trial lists.
    Calibrate(commands::calibrate::CalibrateArgs),
    /// Fit the fused system (weights per channel and its calibration) on trial lists.
    #[command(subcommand)]
    Fusion(commands::fusion::FusionCommand),
    /// Build or inspect an impostor cohort file for S-norm.
    #[command(subcommand)]
    Cohort(commands::cohort::CohortCommand),
    /// Measure embedding throughput (audio seconds per CPU second).
    Bench(commands::bench::BenchArgs),
    /// Score files with the voice spoofing countermeasure (risk 0–100, one JSON line each).
    Spoof(commands::spoof::SpoofArgs),
    /// Batch enrollment / fraudster registration jobs on a running server.
    #[command(subcommand)]
    Jobs(commands::jobs::JobsCommand),
    /// Engine settings and the voiceprint lifecycle (approval, segments) on a running server.
    #[command(subcommand)]
    Voiceprints(commands::voiceprints::VoiceprintsCommand),
    /// Validate Amazon Connect flows (flow-language JSON) for their Voice ID blocks.
    #[command(subcommand)]
    Flow(commands::flow::FlowCommand),
    /// Run the Amazon Voice ID compatible API server.
    Serve(commands::serve::ServeArgs),
    /// Administrative tasks on a server data directory.
    #[command(subcommand)]
    Admin(commands::serve::AdminCommand),
}

fn main() -> ExitCode {
    // Clap exits with status 2 on usage errors and 0 for --help/--version.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VOICEPRINT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match cli.command {
        Command::Embed(args) => commands::embed::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Calibrate(args) => commands::calibrate::run(args),
        Command::Cohort(cmd) => commands::cohort::run(cmd),
        Command::Fusion(cmd) => commands::fusion::run(cmd),
        Command::Bench(args) => commands::bench::run(args),
        Command::Spoof(args) => commands::spoof::run(args),
        Command::Jobs(cmd) => commands::jobs::run(cmd),
        Command::Voiceprints(cmd) => commands::voiceprints::run(cmd),
        Command::Flow(cmd) => commands::flow::run(cmd),
        Command::Serve(args) => commands::serve::run(args),
        Command::Admin(cmd) => commands::serve::run_admin(cmd),
    };
    match result {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
