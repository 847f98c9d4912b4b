//! Embedding throughput on 16 kHz FLAC files, the Rust side of
//! `scripts/bench-reference.sh`: decodes every file first, then embeds them
//! all and prints one JSON line (audio seconds, process CPU seconds, wall
//! seconds, and the real-time factor = CPU seconds per audio second), the same
//! shape as `scripts/bench_reference.py`.
//!
//! `cargo run --release -p voiceprint-engine --example throughput -- [--model ge2e|campplus] [--repeat N] [--bf16] FILE.flac...`
//! (default model GE2E in its default f32 arithmetic; `--bf16` selects the AVX-512
//! BF16 kernels where the CPU has them).

use std::path::PathBuf;
use std::time::Instant;

use voiceprint_engine::campplus::CamPlusPlus;
use voiceprint_engine::ge2e::{Ge2e, Precision};
use voiceprint_engine::Embedder;

/// CPU time of the whole process (all threads), in seconds.
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut campplus = false;
    if args.first().map(String::as_str) == Some("--model") && args.len() > 1 {
        campplus = match args[1].as_str() {
            "campplus" => true,
            "ge2e" => false,
            other => return Err(format!("unknown model {other:?}").into()),
        };
        args.drain(..2);
    }
    let mut repeat = 1usize;
    if args.first().map(String::as_str) == Some("--repeat") && args.len() > 1 {
        repeat = args[1].parse()?;
        args.drain(..2);
    }
    let bf16 = args.first().map(String::as_str) == Some("--bf16");
    if bf16 {
        args.remove(0);
    }
    if args.is_empty() {
        return Err("usage: throughput [--repeat N] FILE.flac...".into());
    }
    let models = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let (model, name): (Box<dyn Embedder>, String) = if campplus {
        let model = CamPlusPlus::load(&models.join("campplus/campplus_cn_en_common.pt"))?;
        (Box::new(model), "campplus".into())
    } else {
        let mut model = Ge2e::load(&models.join("ge2e/pretrained.pt"))?;
        if bf16 {
            model.set_precision(Precision::Bf16);
        }
        let name = format!("ge2e {:?}", model.precision());
        (Box::new(model), name)
    };
    let mut wavs = Vec::new();
    for path in &args {
        let mut reader = claxon::FlacReader::open(path).map_err(|e| format!("{path}: {e}"))?;
        let info = reader.streaminfo();
        if info.sample_rate != 16_000 || info.channels != 1 {
            return Err(format!("{path}: need 16 kHz mono").into());
        }
        let scale = 1.0 / (1u32 << (info.bits_per_sample - 1)) as f32;
        let samples: Result<Vec<i32>, _> = reader.samples().collect();
        wavs.push(
            samples?
                .into_iter()
                .map(|s| s as f32 * scale)
                .collect::<Vec<f32>>(),
        );
    }
    let audio_s = wavs.iter().map(|w| w.len()).sum::<usize>() as f64 / 16_000.0 * repeat as f64;
    model.embed(&wavs[0])?; // warm-up, as the reference does
    let (cpu0, wall0) = (process_cpu_seconds(), Instant::now());
    for _ in 0..repeat {
        for w in &wavs {
            std::hint::black_box(model.embed(w)?);
        }
    }
    let (cpu, wall) = (process_cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    println!(
        "{{\"impl\": \"voiceprint {name} (1 thread)\", \"files\": {}, \"audio_s\": {audio_s:.3}, \"cpu_s\": {cpu:.4}, \"wall_s\": {wall:.4}, \"audio_s_per_cpu_s\": {:.2}, \"audio_s_per_wall_s\": {:.2}, \"rtf_cpu\": {:.4}}}",
        wavs.len(),
        audio_s / cpu,
        audio_s / wall,
        cpu / audio_s
    );
    Ok(())
}
