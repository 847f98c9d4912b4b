//! `voiceprint cohort build DIR --out cohort.bin` and `voiceprint cohort info FILE`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rayon::prelude::*;
use voiceprint_engine::cohort::Cohort;

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};

#[derive(Debug, Subcommand)]
pub enum CohortCommand {
    /// Embed audio files (one per impostor speaker, ideally) into a cohort file.
    Build(BuildArgs),
    /// Print a cohort file's model, dimension and size.
    Info {
        /// Cohort file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Folders (searched recursively for .wav, .flac and .mp3), audio files, or text files
    /// listing one audio path per line.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output cohort file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Channel applied before embedding (match the channel you will score); repeat to add
    /// every file once per channel (e.g. wideband and telephone for the fused system, whose
    /// adaptive S-norm then picks the impostors of the call's own channel).
    #[arg(long, value_enum, default_value = "wideband")]
    pub channel: Vec<Channel>,
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
        } else if is_audio(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "wav" | "flac" | "mp3"))
}

fn build(args: BuildArgs) -> Result<(), CliError> {
    let mut files = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            audio_files(input, &mut files)?;
        } else if is_audio(input) {
            files.push(input.clone());
        } else {
            let text = std::fs::read_to_string(input).map_err(|e| CliError::io(input, e))?;
            let base = input.parent().unwrap_or(Path::new("."));
            files.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| base.join(l)));
        }
    }
    files.sort();
    files.dedup();
    let mut embeddings: Vec<Vec<f32>> = Vec::new();
    let mut model = None;
    for &channel in &args.channel {
        let opts = args.model.load(channel)?;
        model = Some(opts.model_id());
        let bar = super::progress(files.len() as u64, "embedding cohort");
        embeddings.extend(files.par_iter().filter_map(|f| {
            let r = opts.embed_file(f);
            bar.inc(1);
            r.map_err(|e| tracing::warn!("skipping: {e}")).ok().map(|e| e.embedding)
        }).collect::<Vec<_>>());
        bar.finish_and_clear();
    }
    let cohort = Cohort::new(model.unwrap_or_default(), &embeddings)?;
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
