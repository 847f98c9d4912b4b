//! Measures the enrollment-quality detectors on a folder of one-speaker recordings
//! (docs/ENROLLMENT-QUALITY.md): for each recording the chunk-consistency statistics
//! of its speech alone, then of its speech followed by the next recording's (a
//! different speaker), and the SNR measured after adding white noise at known SNRs.
//!
//! ```sh
//! cargo run --release -p voiceprint-voiceid --example enrollment_quality -- \
//!     ../shared/data/librispeech-251spk models campplus > eval/quality.csv
//! ```
//! Output: CSV `kind,file,chunks,seconds,min_loo,min_groups` and
//! `clip,file,clean_fraction,gain2_fraction,gain4_fraction` (hard-clipped after a gain),
//! `snr,file,true_db,measured_db,net_speech`, and with a digits folder as the 5th
//! argument `single30` / `pair30` rows (30 s of one speaker; 15 s + 15 s of two).

use std::path::PathBuf;

use voiceprint_audio::{detect_speech, prepare_file, quality::snr_db, speech_only};
use voiceprint_voiceid::quality::{measure_voice_consistency, VoiceConsistency};
use voiceprint_voiceid::Biometrics;

fn row(kind: &str, name: &str, seconds: f64, v: Option<VoiceConsistency>) -> String {
    match v {
        Some(v) => format!(
            "{kind},{name},{},{seconds:.2},{:.4},{}",
            v.chunks,
            v.min_leave_one_out,
            v.min_two_groups
                .map_or(String::new(), |g| format!("{g:.4}"))
        ),
        None => format!("{kind},{name},0,{seconds:.2},,"),
    }
}

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(&args[1]);
    let models = PathBuf::from(args.get(2).map_or("models", String::as_str));
    let model = args.get(3).map_or("campplus", String::as_str);
    let limit: usize = args
        .get(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let bio = Biometrics::load(&models, model, 2).expect("model");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "flac" || e == "wav"))
        .collect();
    files.sort();
    files.truncate(limit);
    let prepared: Vec<_> = files
        .iter()
        .map(|f| prepare_file(f).expect("audio"))
        .collect();
    let speech: Vec<Vec<f32>> = prepared.iter().map(|p| p.speech_samples()).collect();
    let name = |i: usize| files[i].file_stem().unwrap().to_string_lossy().into_owned();
    println!("kind,file,chunks,seconds,min_loo,min_groups");
    let n = files.len();
    let jobs: Vec<(String, String, Vec<f32>)> = (0..n)
        .map(|i| ("single".to_owned(), name(i), speech[i].clone()))
        .chain((0..n).map(|i| {
            let j = (i + 1) % n;
            let mut s = speech[i].clone();
            s.extend_from_slice(&speech[j]);
            ("pair".to_owned(), format!("{}+{}", name(i), name(j)), s)
        }))
        .collect();
    let rows = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for part in jobs.chunks(jobs.len().div_ceil(2)) {
            let (bio, rows) = (&bio, &rows);
            scope.spawn(move || {
                for (kind, name, s) in part {
                    let v = measure_voice_consistency(bio, s).expect("embed");
                    let line = row(kind, name, s.len() as f64 / 16_000.0, v);
                    eprintln!("{line}");
                    rows.lock().unwrap().push(line);
                }
            });
        }
    });
    for line in rows.into_inner().unwrap() {
        println!("{line}");
    }
    // Long single-speaker enrollments: AudioMNIST-AZ digits of one speaker up to 30 s
    // of speech, and 15 s + 15 s of two speakers.
    if let Some(digits) = args.get(5) {
        let mut speakers: Vec<PathBuf> = std::fs::read_dir(digits)
            .expect("digits dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        speakers.sort();
        let take = |dir: &PathBuf, seconds: f64| -> Vec<f32> {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "flac"))
                .collect();
            files.sort();
            let mut out = Vec::new();
            for f in files {
                if out.len() as f64 >= seconds * 16_000.0 {
                    break;
                }
                if let Ok(p) = prepare_file(&f) {
                    out.extend(p.speech_samples());
                }
            }
            out
        };
        let long: Vec<Vec<f32>> = speakers.iter().map(|d| take(d, 30.0)).collect();
        for (i, s) in long.iter().enumerate() {
            let sp = speakers[i]
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let v = measure_voice_consistency(&bio, s).expect("embed");
            println!("{}", row("single30", &sp, s.len() as f64 / 16_000.0, v));
            let next = &long[(i + 1) % long.len()];
            let mut mix = s[..s.len() / 2].to_vec();
            mix.extend_from_slice(&next[..next.len() / 2]);
            let v = measure_voice_consistency(&bio, &mix).expect("embed");
            println!("{}", row("pair30", &sp, mix.len() as f64 / 16_000.0, v));
        }
    }
    println!("clip,file,clean_fraction,gain2_fraction,gain4_fraction");
    for (i, p) in prepared.iter().enumerate() {
        let speech = p.net_speech_seconds() * 16_000.0;
        let clipped = |gain: f32| {
            let x: Vec<f32> = p
                .samples_16k
                .iter()
                .map(|v| (v * gain).clamp(-1.0, 1.0))
                .collect();
            voiceprint_audio::quality::count_clipped_samples(&x) as f64 / speech
        };
        println!(
            "clip,{},{:.5},{:.5},{:.5}",
            name(i),
            p.quality().clipped_fraction,
            clipped(2.0),
            clipped(4.0)
        );
    }
    println!("snr,file,true_db,measured_db,net_speech");
    for (i, p) in prepared.iter().enumerate() {
        let clean = snr_db(&p.samples_16k, &p.speech);
        println!(
            "snr,{},clean,{clean:.2},{:.2}",
            name(i),
            p.net_speech_seconds()
        );
        let sp = speech_only(&p.samples_16k, &p.speech);
        let power = sp.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / sp.len() as f64;
        for want in [30.0f64, 20.0, 15.0, 10.0, 5.0, 0.0] {
            let scale = ((power / 10f64.powf(want / 10.0)) * 3.0).sqrt() as f32;
            let x: Vec<f32> = p
                .samples_16k
                .iter()
                .zip(noise(p.samples_16k.len(), i as u64 + 3))
                .map(|(s, z)| s + z * scale)
                .collect();
            let speech = detect_speech(&x);
            let net = voiceprint_audio::net_speech_seconds(&speech);
            println!("snr,{},{want},{:.2},{net:.2}", name(i), snr_db(&x, &speech));
        }
    }
}
