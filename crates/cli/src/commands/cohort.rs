//! `voiceprint cohort build DIR --out cohort.bin` and `voiceprint cohort info FILE`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rayon::prelude::*;
use voiceprint_engine::cohort::Cohort;

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};

#[derive(Debug, Subcommand)]
pub enum CohortCommand {
    /// Embed every audio file under DIR (one per impostor speaker, ideally) into a cohort file.
    Build(BuildArgs),
    /// Print a cohort file's model, dimension and size.
    Info {
        /// Cohort file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Folder searched recursively for .wav, .flac and .mp3 files.
    pub dir: PathBuf,
    /// Output cohort file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Channel applied before embedding (match the channel you will score).
    #[arg(long, value_enum, default_value = "wideband")]
    pub channel: Channel,
}

pub fn run(cmd: CohortCommand) -> Result<(), CliError> {
    match cmd {
        CohortCommand::Build(args) => build(args),
        CohortCommand::Info { file } => {
            let c = Cohort::load(&file)?;
            println!("{}: model {}, dim {}, {} embeddings", file.display(), c.model(), c.dim(), c.len());
            Ok(())
        }
    }
}

fn audio_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| CliError::io(dir, e))?.path();
        if path.is_dir() {
            audio_files(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "wav" | "flac" | "mp3"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn build(args: BuildArgs) -> Result<(), CliError> {
    let mut files = Vec::new();
    audio_files(&args.dir, &mut files)?;
    files.sort();
    let opts = args.model.load(args.channel)?;
    let bar = super::progress(files.len() as u64, "embedding cohort");
    let embeddings: Vec<Vec<f32>> = files
        .par_iter()
        .filter_map(|f| {
            let r = opts.embed_file(f);
            bar.inc(1);
            r.map_err(|e| tracing::warn!("skipping: {e}")).ok().map(|e| e.embedding)
        })
        .collect();
    bar.finish_and_clear();
    let cohort = Cohort::new(opts.model_id(), &embeddings)?;
    cohort.save(&args.out)?;
    eprintln!(
        "wrote {} ({} embeddings of {} files, model {})",
        args.out.display(),
        cohort.len(),
        files.len(),
        cohort.model()
    );
    Ok(())
}
