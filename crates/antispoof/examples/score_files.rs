//! Scores audio files with both countermeasure models, one JSON line each
//! (the raw material of scripts/spoof/evaluate.py). Same as `voiceprint spoof`
//! but without the CLI's dependencies, and it also reports the CPU seconds its
//! thread spent in the two models (thread CPU time: fair on a busy machine).
//!
//! cargo run --release -p voiceprint-antispoof --example score_files -- \
//!     MODELS_DIR [--max-windows N] [--threads N] < list-of-files

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use voiceprint_antispoof::{model_score, SpoofDetector, DEFAULT_MAX_WINDOWS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(models) = args.first() else {
        eprintln!("usage: score_files MODELS_DIR [--max-windows N] [--threads N] < files");
        std::process::exit(2);
    };
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().expect("a number"))
            .unwrap_or(default)
    };
    let max_windows = flag("--max-windows", DEFAULT_MAX_WINDOWS);
    let threads = flag("--threads", 1).max(1);
    let detector = SpoofDetector::load_dir(Path::new(models)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let files: Vec<PathBuf> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .map(PathBuf::from)
        .collect();
    let next = Mutex::new(0usize);
    let out = Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(f) = files.get(i) else { break };
                let line = match voiceprint_audio::prepare_file(f) {
                    Err(e) => format!("{{\"file\":{:?},\"error\":{:?}}}", f.display().to_string(), e.to_string()),
                    Ok(p) => {
                        let t = cpu_time::ThreadTime::now();
                        let x = &p.samples_16k;
                        let r19 = model_score(detector.model_2019(), x, max_windows);
                        let r5 = model_score(detector.model_asvspoof5(), x, max_windows);
                        let secs = t.elapsed().as_secs_f64();
                        match (r19, r5) {
                            (Ok(s19), Ok(s5)) => {
                                let a = detector.assess(s19, s5, 0);
                                format!(
                                    "{{\"file\":{:?},\"score_2019\":{s19},\"score_asvspoof5\":{s5},\"risk_score\":{},\"duration_seconds\":{},\"windows\":{},\"cpu_seconds\":{secs}}}",
                                    f.display().to_string(),
                                    a.risk_score,
                                    p.duration_seconds,
                                    voiceprint_antispoof::window_starts(x.len(), 64_600, max_windows).len()
                                )
                            }
                            (Err(e), _) | (_, Err(e)) => {
                                format!("{{\"file\":{:?},\"error\":{:?}}}", f.display().to_string(), e.to_string())
                            }
                        }
                    }
                };
                writeln!(out.lock().unwrap(), "{line}").unwrap();
            });
        }
    });
}
