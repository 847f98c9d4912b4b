//! Measures CAM++'s input-scale choice on a trial list: samples in [-1, 1]
//! (3D-Speaker's inference, the default) vs the Kaldi int16 range (×32768).
//! Same front end as `voiceprint eval` (decode, optional telephone channel,
//! VAD, speech only; enrollment = net-speech-weighted mean), cosine scores.
//!
//! `cargo run --release -p voiceprint-engine --example campplus_input_scale -- TRIALS.tsv [--telephone]`

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use voiceprint_engine::campplus::CamPlusPlus;
use voiceprint_engine::metrics::ScoreSet;
use voiceprint_engine::scoring::{EnrollmentSample, Voiceprint};
use voiceprint_engine::Embedder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = PathBuf::from(args.first().ok_or("usage: TRIALS.tsv [--telephone]")?);
    let telephone = args.iter().any(|a| a == "--telephone");
    let base = list.parent().unwrap_or(Path::new(".")).to_owned();
    let weights = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
        .join("campplus/campplus_cn_en_common.pt");
    let unit = CamPlusPlus::load(&weights)?;
    let int16 = CamPlusPlus::load(&weights)?.with_input_scale(32768.0);
    let trials: Vec<(Vec<PathBuf>, PathBuf, bool)> = std::fs::read_to_string(&list)?
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let enroll = f[0].split(',').map(|p| base.join(p)).collect();
            (enroll, base.join(f[1]), f.get(2) == Some(&"target"))
        })
        .collect();
    // file -> (embedding [-1,1], embedding int16, net speech s)
    let mut cache: HashMap<PathBuf, (Vec<f32>, Vec<f32>, f64)> = HashMap::new();
    for (enroll, test, _) in &trials {
        for path in enroll.iter().chain(std::iter::once(test)) {
            if cache.contains_key(path) {
                continue;
            }
            let prepared = voiceprint_audio::prepare_file(path)?;
            let samples = if telephone {
                let phone = voiceprint_audio::simulate_telephone_channel(&prepared.samples_16k);
                let speech = voiceprint_audio::detect_speech(&phone);
                voiceprint_audio::speech_only(&phone, &speech)
            } else {
                voiceprint_audio::speech_only(&prepared.samples_16k, &prepared.speech)
            };
            let secs = samples.len() as f64 / 16_000.0;
            cache.insert(
                path.clone(),
                (unit.embed(&samples)?, int16.embed(&samples)?, secs),
            );
        }
    }
    for (name, pick) in [("[-1, 1]", 0usize), ("int16 (x32768)", 1)] {
        let (mut target, mut nontarget) = (Vec::new(), Vec::new());
        for (enroll, test, is_target) in &trials {
            let samples: Vec<EnrollmentSample> = enroll
                .iter()
                .map(|p| {
                    let (a, b, s) = &cache[p];
                    EnrollmentSample {
                        embedding: if pick == 0 { a } else { b },
                        net_speech_seconds: *s,
                    }
                })
                .collect();
            let vp = Voiceprint::enroll("campplus", &samples)?;
            let (a, b, _) = &cache[test];
            let score = f64::from(vp.score("campplus", if pick == 0 { a } else { b })?);
            if *is_target {
                target.push(score)
            } else {
                nontarget.push(score)
            }
        }
        let set = ScoreSet::new(target, nontarget)?;
        println!(
            "{} {}{}: EER {:.2} %, FRR at FAR 1 % {:.2} %",
            list.display(),
            name,
            if telephone { " telephone" } else { "" },
            100.0 * set.eer().eer,
            100.0 * set.at_far(0.01).frr
        );
    }
    Ok(())
}
