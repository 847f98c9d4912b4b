//! `voiceprint embed FILE...`: one JSON line per file.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use rayon::prelude::*;

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Audio files (WAV, FLAC, MP3).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Channel applied before embedding.
    #[arg(long, value_enum, default_value = "wideband")]
    pub channel: Channel,
}

#[derive(serde::Serialize)]
struct EmbedLine<'a> {
    file: String,
    model: &'a str,
    dim: usize,
    duration_seconds: f64,
    net_speech_seconds: f64,
    embedding: &'a [f32],
}

pub fn run(args: EmbedArgs) -> Result<(), CliError> {
    let opts = args.model.load(args.channel)?;
    let bar = super::progress(args.files.len() as u64, "embedding");
    // Embed in parallel, print in input order; the first failure (in input order) stops.
    let results: Vec<_> = args
        .files
        .par_iter()
        .map(|f| {
            let r = opts.embed_file(f);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (file, result) in args.files.iter().zip(results) {
        let e = result?;
        let line = EmbedLine {
            file: file.display().to_string(),
            model: opts.model_id(),
            dim: e.embedding.len(),
            duration_seconds: e.duration_seconds,
            net_speech_seconds: e.net_speech_seconds,
            embedding: &e.embedding,
        };
        let json = serde_json::to_string(&line).map_err(|e| CliError::Failed(e.to_string()))?;
        writeln!(out, "{json}").map_err(|e| CliError::io("<stdout>", e))?;
    }
    Ok(())
}
