//! `voiceprint bench`: embedding throughput in audio seconds per CPU second, on one
//! thread and on all threads. A quick field measurement; the criterion benches in
//! `crates/engine/benches` are the reference numbers.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use cpu_time::ProcessTime;
use rayon::prelude::*;

use crate::error::CliError;
use crate::model::{Channel, ModelArgs};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Total audio seconds embedded per run.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Length of each embedded segment in seconds (one "utterance").
    #[arg(long, default_value_t = 10.0)]
    pub segment: f64,
    /// Recording to use (looped to length); default: a synthetic voiced signal.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Deterministic voiced-speech-like signal: harmonics of a gliding 100–180 Hz pitch,
/// syllable-rate amplitude modulation and a little noise.
fn synthetic_speech(n: usize) -> Vec<f32> {
    let sr = 16_000.0f64;
    let mut phase = 0.0f64;
    let mut noise = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|i| {
            let t = i as f64 / sr;
            let f0 = 140.0 + 40.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / sr;
            let voiced: f64 = (1..=12).map(|h| (h as f64 * phase).sin() / h as f64).sum();
            let env = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin().max(0.0);
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let n = (noise >> 40) as f64 / (1u64 << 24) as f64 - 0.5;
            (0.2 * env * voiced + 0.01 * n) as f32
        })
        .collect()
}

struct Run {
    wall: f64,
    cpu: f64,
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    if !(args.seconds > 0.0 && args.segment > 0.0 && args.segment <= args.seconds) {
        return Err(CliError::Usage("need 0 < --segment <= --seconds".into()));
    }
    let opts = args.model.load(Channel::Wideband)?;
    let seg_len = (args.segment * 16_000.0) as usize;
    let source = match &args.file {
        Some(f) => crate::model::load_samples(f)?,
        None => synthetic_speech(seg_len),
    };
    if source.is_empty() {
        return Err(CliError::Failed("benchmark audio is empty".into()));
    }
    let segment: Vec<f32> = source.iter().copied().cycle().take(seg_len).collect();
    let count = (args.seconds / args.segment).round().max(1.0) as usize;
    let audio_seconds = count as f64 * args.segment;
    let embed = |_: usize| opts.embedder.embed(&segment).map(|_| ());

    // Warm-up (page in weights, size buffers).
    opts.embedder.embed(&segment)?;

    let measure = |threads: usize| -> Result<Run, CliError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| CliError::Failed(format!("thread pool: {e}")))?;
        let (wall, cpu) = (Instant::now(), ProcessTime::now());
        pool.install(|| (0..count).into_par_iter().try_for_each(embed))?;
        Ok(Run { wall: wall.elapsed().as_secs_f64(), cpu: cpu.elapsed().as_secs_f64() })
    };
    let threads = rayon::current_num_threads();
    println!(
        "model {} (dim {}): {count} segments of {:.1} s = {audio_seconds:.0} s of audio",
        opts.model_id(),
        opts.embedder.dim(),
        args.segment
    );
    for (name, n) in [("1 thread", 1), ("all threads", threads)] {
        let r = measure(n)?;
        println!(
            "{name:<12} ({n:>2}): {:>8.1} audio s / CPU s   {:>8.1} audio s / wall s   RTF per core {:.4}   (wall {:.2} s, CPU {:.2} s)",
            audio_seconds / r.cpu,
            audio_seconds / r.wall,
            r.cpu / audio_seconds,
            r.wall,
            r.cpu
        );
    }
    Ok(())
}
