//! Measures whether a live session's incremental embedding (speech cut into
//! consecutive L-second segments, each embedded once, combined as the
//! speech-weighted mean of the unit-normalised segment embeddings) loses accuracy
//! against one embedding of the whole speech, and picks the segment length.
//!
//! Real speech from `../shared/data` (skipped when absent):
//! - `fsdd-8k`: 6 speakers, 8 kHz telephone-rate digits; per speaker 3 enrolments
//!   of 30 s net speech and 10 tests of 10 s net speech (disjoint takes);
//! - `audiomnist-az-16k` through the G.711 μ-law channel: 59 speakers, enrolment
//!   = first 15 s of net speech, test = the next up to 10 s.
//!
//! Enrolment is always one whole embedding (EnrollBySession embeds that way or
//! by segments: the `--enroll-segments` flag measures the latter); tests are
//! embedded whole and with each segment length. Prints EER and mean target /
//! non-target cosine per configuration.
//!
//! `cargo run --release -p voiceprint-server --example segment_length [-- --enroll-segments]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use voiceprint_engine::metrics::ScoreSet;
use voiceprint_engine::scoring::{cosine, l2_normalized};
use voiceprint_engine::Embedder;

const SR: usize = 16_000;

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VOICEPRINT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.join("data").is_dir().then_some(dir)
}

/// Speech-only 16 kHz samples of a file; `telephone` passes it through G.711 first.
fn speech_of(path: &Path, telephone: bool) -> Vec<f32> {
    // A take the detector finds no speech in contributes nothing.
    let Ok(prepared) = voiceprint_audio::prepare_file(path) else {
        return Vec::new();
    };
    if telephone {
        let phone = voiceprint_audio::simulate_telephone_channel(&prepared.samples_16k);
        let speech = voiceprint_audio::detect_speech(&phone);
        voiceprint_audio::speech_only(&phone, &speech)
    } else {
        prepared.speech_samples()
    }
}

/// Speech-weighted mean of unit-normalised embeddings of consecutive
/// `segment_seconds` cuts (a last cut shorter than half a segment joins the one before).
fn segment_mean(embedder: &dyn Embedder, speech: &[f32], segment_seconds: f64) -> Vec<f32> {
    let seg = (segment_seconds * SR as f64) as usize;
    let mut cuts: Vec<&[f32]> = speech.chunks(seg).collect();
    if cuts.len() > 1 && cuts.last().unwrap().len() < seg / 2 {
        let n = cuts.len();
        let start = (n - 2) * seg;
        cuts.truncate(n - 2);
        cuts.push(&speech[start..]);
    }
    let mut sum = vec![0f64; embedder.dim()];
    for cut in cuts {
        let e = l2_normalized(&embedder.embed(cut).expect("embed")).expect("norm");
        for (s, x) in sum.iter_mut().zip(e) {
            *s += cut.len() as f64 * f64::from(x);
        }
    }
    sum.into_iter().map(|x| x as f32).collect()
}

struct Item {
    speaker: String,
    speech: Vec<f32>,
}

/// (enrolments, tests) for one data set.
fn fsdd(dir: &Path) -> (Vec<Item>, Vec<Item>) {
    let mut by_speaker: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("fsdd dir") {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let speaker = name.split('_').nth(1).unwrap_or_default().to_string();
        by_speaker.entry(speaker).or_default().push(path);
    }
    let (mut enrol, mut tests) = (Vec::new(), Vec::new());
    for (speaker, mut files) in by_speaker {
        files.sort();
        // Interleave digits so every cut holds all of them.
        files.sort_by_key(|p| {
            let n = p.file_stem().unwrap().to_string_lossy().to_string();
            let mut parts = n.split('_');
            let digit: u32 = parts.next().unwrap().parse().unwrap_or(0);
            let take: u32 = parts.nth(1).unwrap_or("0").parse().unwrap_or(0);
            (take, digit)
        });
        let mut stream = Vec::new();
        for f in &files {
            stream.extend(speech_of(f, false));
        }
        let mut at = 0;
        for _ in 0..3 {
            enrol.push(Item {
                speaker: speaker.clone(),
                speech: stream[at..at + 30 * SR].to_vec(),
            });
            at += 30 * SR;
        }
        for _ in 0..10 {
            if at + 10 * SR > stream.len() {
                break;
            }
            tests.push(Item {
                speaker: speaker.clone(),
                speech: stream[at..at + 10 * SR].to_vec(),
            });
            at += 10 * SR;
        }
    }
    (enrol, tests)
}

fn audiomnist(dir: &Path) -> (Vec<Item>, Vec<Item>) {
    let (mut enrol, mut tests) = (Vec::new(), Vec::new());
    let mut speakers: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("audiomnist dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    speakers.sort();
    for sp in speakers {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut stream = Vec::new();
        for f in &files {
            stream.extend(speech_of(f, true));
        }
        let speaker = sp.file_name().unwrap().to_string_lossy().to_string();
        let e = (15 * SR).min(stream.len() * 6 / 10);
        let t_end = (e + 10 * SR).min(stream.len());
        if t_end - e < 4 * SR {
            continue;
        }
        enrol.push(Item {
            speaker: speaker.clone(),
            speech: stream[..e].to_vec(),
        });
        tests.push(Item {
            speaker,
            speech: stream[e..t_end].to_vec(),
        });
    }
    (enrol, tests)
}

fn evaluate(
    label: &str,
    embedder: &dyn Embedder,
    enrol: &[Item],
    tests: &[Item],
    enroll_segments: bool,
) {
    println!(
        "\n== {label}: {} enrolments, {} tests",
        enrol.len(),
        tests.len()
    );
    let whole = |s: &[f32]| embedder.embed(s).expect("embed");
    let started = std::time::Instant::now();
    let enrol_whole: Vec<Vec<f32>> = enrol.iter().map(|i| whole(&i.speech)).collect();
    let test_whole: Vec<Vec<f32>> = tests.iter().map(|i| whole(&i.speech)).collect();
    eprintln!("whole embeddings in {:.1?}", started.elapsed());
    let report = |name: &str, enr: &[Vec<f32>], tst: &[Vec<f32>]| {
        let (mut target, mut non) = (Vec::new(), Vec::new());
        for (ei, e) in enrol.iter().zip(enr) {
            for (ti, t) in tests.iter().zip(tst) {
                let s = f64::from(cosine(e, t).unwrap());
                if ei.speaker == ti.speaker {
                    target.push(s)
                } else {
                    non.push(s)
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (mt, mn) = (mean(&target), mean(&non));
        let set = ScoreSet::new(target, non).unwrap();
        println!(
            "{name:<28} EER {:>6.2} %   mean target {mt:.3}   mean non-target {mn:.3}",
            set.eer().eer * 100.0
        );
    };
    report("test whole", &enrol_whole, &test_whole);
    for seg in [1.0, 2.0, 3.0, 5.0] {
        let t: Vec<Vec<f32>> = tests
            .iter()
            .map(|i| segment_mean(embedder, &i.speech, seg))
            .collect();
        report(&format!("test segments of {seg} s"), &enrol_whole, &t);
        if enroll_segments {
            let e: Vec<Vec<f32>> = enrol
                .iter()
                .map(|i| segment_mean(embedder, &i.speech, seg))
                .collect();
            report(&format!("  + enrol segments of {seg} s"), &e, &t);
        }
    }
}

fn main() {
    let enroll_segments = std::env::args().any(|a| a == "--enroll-segments");
    let Some(shared) = shared_dir() else {
        eprintln!("skipping: ../shared/data not found (set VOICEPRINT_SHARED)");
        return;
    };
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let embedder = match voiceprint_engine::models::load_embedder_by_name("campplus", &models) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    let (e, t) = fsdd(&shared.join("data/fsdd-8k"));
    evaluate("fsdd-8k", embedder.as_ref(), &e, &t, enroll_segments);
    let (e, t) = audiomnist(&shared.join("data/audiomnist-az-16k"));
    evaluate(
        "audiomnist-az-16k via G.711",
        embedder.as_ref(),
        &e,
        &t,
        enroll_segments,
    );
}
