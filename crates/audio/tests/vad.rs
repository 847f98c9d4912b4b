//! Voice-activity accuracy: net speech seconds on espeak-ng speech with silences of known
//! length inserted, at 16 kHz, at 8 kHz, through G.711 μ-law/A-law (sox and our own
//! channel), streaming, and on the ../shared real speech when present.
//! Belongs here: anything that measures how much speech the detector finds.

mod common;

use std::ops::Range;
use std::path::Path;
use std::process::Command;

use common::*;
use voiceprint_audio::{
    decode_bytes, detect_speech, net_speech_seconds, prepare_bytes, prepare_file, resample,
    simulate_telephone_channel, AudioError, DecodeOptions, RawEncoding, RawFormat, StreamingVad,
};

/// Allowed relative error of net speech seconds.
const TOLERANCE: f64 = 0.15;

const SENTENCES: [&str; 3] = [
    "The quick brown fox jumps over the lazy dog near the river bank",
    "My voice is my password please verify me",
    "Seven four nine two one eight",
];

/// Trims leading/trailing near-silence (|x| < 0.01): the utterance's known speech extent.
fn trim(x: &[f32]) -> &[f32] {
    let start = x.iter().position(|v| v.abs() >= 0.01).unwrap_or(x.len());
    let end = x
        .iter()
        .rposition(|v| v.abs() >= 0.01)
        .map_or(start, |i| i + 1);
    &x[start..end]
}

/// 16 kHz composite of espeak-ng utterances separated by silences of known length, with
/// steady background noise of RMS `noise_rms` over everything. Returns (samples, known
/// speech seconds, utterance spans in samples).
fn espeak_composite(dir: &Path, noise_rms: f32) -> (Vec<f32>, f64, Vec<Range<usize>>) {
    let gaps = [1.0f32, 2.0, 0.7, 1.5];
    let mut out = vec![0.0f32; (gaps[0] * 16_000.0) as usize];
    let mut spans = Vec::new();
    for (i, text) in SENTENCES.iter().enumerate() {
        let decoded = decode_bytes(
            &espeak_wav(text, dir, &format!("s{i}")),
            &DecodeOptions::default(),
        )
        .unwrap();
        let at_16k = resample(&decoded.samples, decoded.sample_rate, 16_000).unwrap();
        let utterance = trim(&at_16k);
        spans.push(out.len()..out.len() + utterance.len());
        out.extend_from_slice(utterance);
        out.extend(vec![0.0f32; (gaps[i + 1] * 16_000.0) as usize]);
    }
    // Uniform noise in [-1, 1] has RMS 1/sqrt(3).
    let hiss = noise(out.len(), 5);
    for (v, n) in out.iter_mut().zip(hiss) {
        *v += n * noise_rms * 3f32.sqrt();
    }
    let known = spans.iter().map(|r| r.len()).sum::<usize>() as f64 / 16_000.0;
    (out, known, spans)
}

/// Every detected segment lies inside a known utterance (give or take 100 ms): nothing
/// is found in the inserted silences.
fn assert_inside(segments: &[Range<usize>], spans: &[Range<usize>], what: &str) {
    for s in segments {
        let inside = spans
            .iter()
            .any(|u| s.start + 1_600 >= u.start && s.end <= u.end + 1_600);
        assert!(
            inside,
            "{what}: segment {s:?} is outside the utterances {spans:?}"
        );
    }
}

fn assert_close(measured: f64, known: f64, what: &str) {
    let error = (measured - known) / known;
    eprintln!(
        "{what}: net speech {measured:.3} s vs known {known:.3} s ({:+.1}%)",
        error * 100.0
    );
    assert!(
        error.abs() <= TOLERANCE,
        "{what}: net speech {measured:.3} s vs known {known:.3} s"
    );
}

#[test]
fn net_speech_of_espeak_with_inserted_silences_at_16k_8k_and_g711() {
    const TEST: &str = "net_speech_of_espeak_with_inserted_silences_at_16k_8k_and_g711";
    if !have_tool("espeak-ng", TEST) {
        return;
    }
    let dir = scratch("vad-composite");
    let (wideband, known, spans) = espeak_composite(&dir, 0.0005);
    let segments = detect_speech(&wideband);
    assert_close(net_speech_seconds(&segments), known, "16 kHz");
    assert_inside(&segments, &spans, "16 kHz");

    let phone = simulate_telephone_channel(&wideband);
    let phone_segments = detect_speech(&phone);
    assert_close(
        net_speech_seconds(&phone_segments),
        known,
        "simulated μ-law channel",
    );
    assert_inside(&phone_segments, &spans, "simulated μ-law channel");

    let mut streaming = StreamingVad::new();
    for chunk in wideband.chunks(160) {
        streaming.push(chunk);
    }
    assert_close(streaming.net_speech_seconds(), known, "streaming 16 kHz");

    if !have_tool("sox", TEST) {
        return;
    }
    let wav = dir.join("composite.wav");
    std::fs::write(&wav, wav_bytes(&wideband, 16_000, 1, 16, false)).unwrap();
    for (name, args) in [
        ("8k.wav", &["-r", "8000"][..]),
        ("8k-ulaw.wav", &["-r", "8000", "-e", "u-law"][..]),
        ("8k-alaw.wav", &["-r", "8000", "-e", "a-law"][..]),
    ] {
        run(Command::new("sox").arg(&wav).args(args).arg(dir.join(name)));
        let prepared = prepare_file(&dir.join(name)).unwrap();
        assert_eq!(prepared.source_sample_rate, 8_000);
        assert_close(prepared.net_speech_seconds(), known, name);
        assert_inside(&prepared.speech, &spans, name);
    }
    // Headerless μ-law at 8 kHz, as a telephony stream delivers it.
    run(Command::new("sox")
        .arg(&wav)
        .args(["-r", "8000", "-e", "u-law", "-t", "raw"])
        .arg(dir.join("8k.ulaw")));
    let raw = RawFormat {
        encoding: RawEncoding::Mulaw,
        sample_rate: 8_000,
        channels: 1,
    };
    let options = DecodeOptions {
        raw: Some(raw),
        ..Default::default()
    };
    let prepared = prepare_bytes(&std::fs::read(dir.join("8k.ulaw")).unwrap(), &options).unwrap();
    assert_close(prepared.net_speech_seconds(), known, "raw μ-law stream");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn louder_quieter_and_noisier_speech_measures_the_same() {
    const TEST: &str = "louder_quieter_and_noisier_speech_measures_the_same";
    if !have_tool("espeak-ng", TEST) {
        return;
    }
    let dir = scratch("vad-levels");
    let (wideband, known, spans) = espeak_composite(&dir, 0.0005);
    for gain in [0.1f32, 0.3, 1.0] {
        let scaled: Vec<f32> = wideband.iter().map(|v| v * gain).collect();
        let segments = detect_speech(&scaled);
        assert_close(
            net_speech_seconds(&segments),
            known,
            &format!("gain {gain}"),
        );
        assert_inside(&segments, &spans, &format!("gain {gain}"));
    }
    // Background noise at -46 and -36 dBFS (espeak speech is about -20 dBFS RMS).
    for noise_rms in [0.005f32, 0.015] {
        let (noisy, known, spans) = espeak_composite(&dir, noise_rms);
        let what = format!("noise rms {noise_rms}");
        let segments = detect_speech(&noisy);
        assert_close(net_speech_seconds(&segments), known, &what);
        assert_inside(&segments, &spans, &what);
        let phone = detect_speech(&simulate_telephone_channel(&noisy));
        assert_close(
            net_speech_seconds(&phone),
            known,
            &format!("{what}, telephone"),
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn silence_and_low_level_noise_have_no_speech() {
    let silence = wav_bytes(&vec![0.0f32; 48_000], 16_000, 1, 16, false);
    assert!(matches!(
        prepare_bytes(&silence, &DecodeOptions::default()),
        Err(AudioError::NoSpeech)
    ));
    for level in [0.0003f32, 0.003, 0.03, 0.3] {
        let hiss: Vec<f32> = noise(80_000, 11).iter().map(|v| v * level).collect();
        let result = prepare_bytes(
            &wav_bytes(&hiss, 16_000, 1, 16, false),
            &DecodeOptions::default(),
        );
        assert!(
            matches!(result, Err(AudioError::NoSpeech)),
            "noise {level}: {result:?}"
        );
        assert_eq!(
            net_speech_seconds(&detect_speech(&simulate_telephone_channel(&hiss))),
            0.0,
            "noise {level}"
        );
    }
    // Mains hum is not speech either (the detector ignores < 100 Hz).
    let hum = tone(50.0, 0.2, 16_000, 3.0);
    assert!(detect_speech(&hum).is_empty());
}

#[test]
fn shared_audiomnist_dc_offset_is_removed() {
    let Some(data) = shared_data("shared_audiomnist_dc_offset_is_removed") else {
        return;
    };
    let speakers = std::fs::read_dir(data.join("audiomnist-az-16k")).unwrap();
    let mut dirs: Vec<_> = speakers
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs.iter().take(3) {
        for file in files_with_ext(dir, "flac").iter().take(3) {
            let decoded =
                decode_bytes(&std::fs::read(file).unwrap(), &DecodeOptions::default()).unwrap();
            let before = mean(&decoded.samples);
            assert!(
                (before + 0.085).abs() < 0.03,
                "{}: raw mean {before}",
                file.display()
            );
            let prepared = prepare_file(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let after = mean(&prepared.samples_16k);
            assert!(
                after.abs() < 0.002,
                "{}: mean after {after}",
                file.display()
            );
            assert!(
                prepared.net_speech_seconds() > 0.2,
                "{}: {:?}",
                file.display(),
                prepared.speech
            );
        }
    }
}

/// On real speech there is no ground truth, so check consistency: the same recordings
/// measured wideband and through the telephone channel agree within the tolerance, and
/// read speech is mostly speech.
#[test]
fn shared_speech_measures_consistently_wideband_and_telephone() {
    let Some(data) = shared_data("shared_speech_measures_consistently_wideband_and_telephone")
    else {
        return;
    };
    let mut wide_total = 0.0;
    let mut phone_total = 0.0;
    let mut duration_total = 0.0;
    for file in files_with_ext(&data.join("librispeech-251spk"), "flac")
        .iter()
        .take(12)
    {
        let prepared = prepare_file(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let phone = simulate_telephone_channel(&prepared.samples_16k);
        let wide = prepared.net_speech_seconds();
        let tel = net_speech_seconds(&detect_speech(&phone));
        let fraction = wide / prepared.duration_seconds;
        // Read speech with pauses: one of these files pauses for 2.7 s in 7.9 s.
        assert!(
            (0.4..=1.0).contains(&fraction),
            "{}: speech fraction {fraction:.2}",
            file.display()
        );
        wide_total += wide;
        phone_total += tel;
        duration_total += prepared.duration_seconds;
    }
    eprintln!("librispeech: {wide_total:.1} s wideband, {phone_total:.1} s telephone of {duration_total:.1} s");
    assert_close(phone_total, wide_total, "librispeech telephone vs wideband");
    assert!(
        wide_total / duration_total > 0.7,
        "{wide_total} of {duration_total}"
    );

    // FSDD: 8 kHz telephone-rate digits, each a short word trimmed to the speech, so
    // often with no pause to show the noise floor. About 1% (a quiet speaker at -50 dBFS
    // with a flat envelope) is indistinguishable from steady noise by energy and is
    // NoSpeech; everything else must show speech.
    let (mut found, mut no_speech) = (0usize, 0usize);
    for file in files_with_ext(&data.join("fsdd-8k"), "wav")
        .iter()
        .step_by(10)
    {
        match prepare_file(file) {
            Ok(prepared) => {
                let seconds = prepared.net_speech_seconds();
                assert!(
                    seconds >= 0.1 && seconds <= prepared.duration_seconds,
                    "{}: {seconds}",
                    file.display()
                );
                found += 1;
            }
            Err(AudioError::NoSpeech) => no_speech += 1,
            Err(e) => panic!("{}: {e}", file.display()),
        }
    }
    eprintln!("fsdd: speech in {found} files, none in {no_speech}");
    assert!(
        no_speech * 100 <= (found + no_speech) * 3,
        "{no_speech} of {} FSDD files without speech",
        found + no_speech
    );
    assert!(found > 50, "only {found} FSDD files found");
}
