//! End-to-end tests of the `voiceprint` binary on audio generated with espeak-ng: two
//! espeak voices play two "speakers". Tests skip (pass with a message) when espeak-ng or
//! the model weights are missing.
//!
//! Add here: anything observable from the command line (output format, exit codes).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_voiceprint");

fn models_dir() -> PathBuf {
    std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

/// Weight file of each model, relative to the models folder.
fn weights(model: &str) -> PathBuf {
    match model {
        "campplus" => models_dir().join("campplus/campplus_cn_en_common.pt"),
        _ => models_dir().join("ge2e/pretrained.pt"),
    }
}

/// Whether `model`'s weights are present (both models always run when they are).
fn model_runs(model: &str) -> bool {
    if !weights(model).is_file() {
        eprintln!(
            "skipping {model}: {} not found (run scripts/fetch-models.sh)",
            weights(model).display()
        );
        return false;
    }
    true
}

/// The model the scoring tests use: CAM++ when its weights are present, else GE2E.
fn any_model() -> Option<&'static str> {
    ["campplus", "ge2e"]
        .into_iter()
        .find(|m| model_runs(m))
        .or_else(|| {
            eprintln!("skipping: no usable model under {}", models_dir().display());
            None
        })
}

const SENTENCES: [&str; 4] = [
    "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden gate.",
    "Please verify my identity so that I can check the balance of my savings account today.",
    "Seven silver swans swam silently across the calm lake as the sun went down behind the hills.",
    "My voice is my password, and I would like to speak with someone about my recent order.",
];

/// Generated audio, made once per test binary: (voice, sentence index) -> wav.
fn speech(voice: &str, sentence: usize) -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        if Command::new("espeak-ng").arg("--version").output().is_err() {
            eprintln!("skipping: espeak-ng not installed");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("voiceprint-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        Some(dir)
    });
    let dir = dir.as_ref()?;
    let path = dir.join(format!("{}_{sentence}.wav", voice.replace('+', "_")));
    if !path.exists() {
        // Write to a unique temp name first: tests run in parallel.
        let tmp = dir.join(format!(
            "{}_{sentence}.{:?}.tmp",
            voice.replace('+', "_"),
            std::thread::current().id()
        ));
        let status = Command::new("espeak-ng")
            .args(["-v", voice, "-s", "150", "-w"])
            .arg(&tmp)
            .arg(SENTENCES[sentence])
            .status()
            .ok()?;
        assert!(status.success(), "espeak-ng failed");
        std::fs::rename(&tmp, &path).ok()?;
    }
    Some(path)
}

/// Speaker A and speaker B.
const VOICE_A: &str = "en-us";
const VOICE_B: &str = "en-gb+f3";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("VOICEPRINT_MODELS_DIR", models_dir())
        .output()
        .expect("run voiceprint")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn embed_prints_one_json_line_per_file_with_model_dimension() {
    for (model, dim) in [("campplus", 192), ("ge2e", 256)] {
        if !model_runs(model) {
            continue;
        }
        let (Some(a), Some(b)) = (speech(VOICE_A, 0), speech(VOICE_B, 1)) else {
            return;
        };
        let out = run(&["embed", "--model", model, p(&a), p(&b)]);
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("valid JSON line"))
            .collect();
        assert_eq!(lines.len(), 2);
        for (line, file) in lines.iter().zip([&a, &b]) {
            assert_eq!(line["model"], model);
            assert_eq!(line["file"], p(file));
            assert_eq!(line["dim"], dim);
            let emb = line["embedding"].as_array().unwrap();
            assert_eq!(emb.len(), dim);
            assert!(emb.iter().all(|v| v.as_f64().unwrap().is_finite()));
            let speech = line["net_speech_seconds"].as_f64().unwrap();
            let duration = line["duration_seconds"].as_f64().unwrap();
            assert!(
                speech > 1.0 && speech <= duration + 1e-6,
                "{speech} of {duration}"
            );
        }
        // Embeddings never go to the logs.
        assert!(!stderr(&out).contains(&lines[0]["embedding"][0].to_string()));
    }
}

#[test]
fn compare_scores_same_voice_above_different_voice() {
    let Some(model) = any_model() else { return };
    let (Some(e1), Some(e2), Some(same), Some(other)) = (
        speech(VOICE_A, 0),
        speech(VOICE_A, 1),
        speech(VOICE_A, 2),
        speech(VOICE_B, 2),
    ) else {
        return;
    };
    let score = |test: &Path| -> serde_json::Value {
        let out = run(&[
            "compare",
            "--model",
            model,
            p(&e1),
            p(&e2),
            "--test",
            p(test),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("score"),
            "human line on stderr: {}",
            stderr(&out)
        );
        serde_json::from_str(stdout(&out).trim()).expect("JSON result")
    };
    let (s_same, s_other) = (score(&same), score(&other));
    for s in [&s_same, &s_other] {
        let v = s["score"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&v));
        assert!(["ACCEPT", "REJECT"].contains(&s["decision"].as_str().unwrap()));
        assert_eq!(s["threshold"], 90.0);
        assert_eq!(s["decision"] == "ACCEPT", v >= 90.0);
    }
    assert!(
        s_same["raw_score"].as_f64().unwrap() > s_other["raw_score"].as_f64().unwrap(),
        "same {s_same} vs other {s_other}"
    );
    assert!(s_same["score"].as_f64().unwrap() >= s_other["score"].as_f64().unwrap());
}

#[test]
fn eval_prints_metrics_and_writes_det_png_and_scores() {
    let Some(model) = any_model() else { return };
    let mut files = Vec::new();
    for voice in [VOICE_A, VOICE_B] {
        for s in 0..4 {
            let Some(f) = speech(voice, s) else { return };
            files.push(f);
        }
    }
    let dir = files[0].parent().unwrap().join(format!("eval-{model}"));
    std::fs::create_dir_all(&dir).unwrap();
    // Enrollment = two recordings; relative paths resolve against the list's folder.
    let name = |f: &PathBuf| format!("../{}", f.file_name().unwrap().to_str().unwrap());
    let (a, b) = (&files[..4], &files[4..]);
    let mut list = String::from("# enroll\ttest\tlabel\n");
    for (enroll, own, other) in [(a, a, b), (b, b, a)] {
        let e = format!("{},{}", name(&enroll[0]), name(&enroll[1]));
        for t in &own[2..] {
            list += &format!("{e}\t{}\ttarget\n", name(t));
        }
        for t in other {
            list += &format!("{e}\t{}\tnontarget\n", name(t));
        }
        list += &format!("{e}\t{}\tspoof\n", name(&other[3]));
    }
    let trials = dir.join("trials.tsv");
    std::fs::write(&trials, list).unwrap();
    let (det, scores) = (dir.join("det.png"), dir.join("scores.tsv"));
    let out = run(&[
        "eval",
        "--model",
        model,
        "--trials",
        p(&trials),
        "--det",
        p(&det),
        "--scores",
        p(&scores),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for key in [
        "EER",
        "minDCF",
        "FRR @ FAR 1 %",
        "at score 90",
        "spoof accepted @ 90",
    ] {
        assert!(text.contains(key), "missing {key}: {text}");
    }
    assert!(
        text.contains("(4 target, 8 nontarget, 2 spoof, 0 skipped)"),
        "{text}"
    );
    let png = std::fs::read(&det).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let rows: Vec<String> = std::fs::read_to_string(&scores)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(rows.len(), 14);
    for r in &rows {
        let f: Vec<&str> = r.split('\t').collect();
        let score: f64 = f[4].parse().unwrap();
        assert!((0.0..=100.0).contains(&score));
    }

    // Same list as JSON: the numbers are consistent with the scores file.
    let out = run(&["eval", "--model", model, "--trials", p(&trials), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let eer = summary["eer"].as_f64().unwrap();
    assert!((0.0..=0.5).contains(&eer), "{summary}");
    assert_eq!(summary["target_trials"], 4);
}

#[test]
fn missing_and_corrupt_files_fail_with_exit_code_1_and_clear_message() {
    let Some(model) = any_model() else { return };
    let dir = std::env::temp_dir().join(format!("voiceprint-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("does-not-exist.wav");
    let out = run(&["embed", "--model", model, p(&missing)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does-not-exist.wav"),
        "{}",
        stderr(&out)
    );

    let corrupt = dir.join("corrupt.wav");
    let mut bytes = b"RIFF\x24\x08\x00\x00WAVEfmt ".to_vec();
    bytes.extend((0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&corrupt, bytes).unwrap();
    let out = run(&["embed", "--model", model, p(&corrupt)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("corrupt.wav"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let Some(good) = speech(VOICE_A, 0) else {
        return;
    };
    let out = run(&["compare", "--model", model, p(&good), "--test", p(&corrupt)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let trials = dir.join("bad-trials.tsv");
    std::fs::write(&trials, "a.wav\tb.wav\tmaybe\n").unwrap();
    let out = run(&["eval", "--model", model, "--trials", p(&trials)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bad-trials.tsv:1") && stderr(&out).contains("maybe"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn usage_errors_exit_2() {
    // No model or audio needed: clap rejects these before anything runs.
    let out = run(&["compare", "enroll.wav"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&["eval"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["embed", "--model", "nope", "x.wav"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Exit status"));
}

#[test]
fn missing_weights_is_a_runtime_error() {
    let out = Command::new(BIN)
        .args([
            "embed",
            "--models-dir",
            "/nonexistent-voiceprint-models",
            "x.wav",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: "));
}

#[test]
fn flow_validate_accepts_the_sample_and_names_the_broken_action() {
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/tests/flows/voice-id-sample.json");
    let ok = run(&["flow", "validate", p(&sample)]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains("ok (18 actions, starts at welcome)"),
        "{}",
        stdout(&ok)
    );

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    let text = std::fs::read_to_string(&sample).unwrap().replace(
        r#""VoiceAuthenticationThreshold": "90""#,
        r#""VoiceAuthenticationThreshold": "190""#,
    );
    std::fs::write(&broken, text).unwrap();
    let bad = run(&["flow", "validate", p(&sample), p(&broken)]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stdout(&bad).contains("action set-voice-id: VoiceAuthenticationThreshold"),
        "{}",
        stdout(&bad)
    );
}

/// A `voiceprint serve` child on a free port over `data_dir`; killed on drop.
struct Served {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path) -> Served {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            p(data_dir),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("VOICEPRINT__ENGINE__MODELS_DIR", models_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start voiceprint serve");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = lines
        .find_map(|l| l.ok()?.split("listening on ").nth(1).map(str::to_owned))
        .expect("serve prints its address");
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Served { child, endpoint }
}

#[test]
fn flow_run_streams_the_recording_and_prints_the_trace() {
    if !model_runs("campplus") {
        return;
    }
    let Some(recording) = speech(VOICE_A, 0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // seed-speakers creates a domain and prints its id.
    let seeded = run(&[
        "admin",
        "seed-speakers",
        "--data-dir",
        p(&data),
        "--count",
        "1",
    ]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let domain = stdout(&seeded)
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    let server = serve(&data);

    // Set Voice ID, let the caller speak, then check authentication of an unknown customer.
    let flow = dir.path().join("flow.json");
    std::fs::write(
        &flow,
        r#"{"Version": "2019-10-30", "StartAction": "set", "Actions": [
          {"Identifier": "set", "Type": "SetVoiceId",
           "Parameters": {"IsVoiceIdStreamingEnabled": "true", "IsVoiceAuthenticationEnabled": "true",
                          "VoiceAuthenticationResponseTime": "5", "CustomerId": "$.Attributes.Account"},
           "Transitions": {"NextAction": "speak", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "end"}]}},
          {"Identifier": "speak", "Type": "Wait", "Parameters": {"TimeoutSeconds": "2"}, "Transitions": {"NextAction": "check"}},
          {"Identifier": "check", "Type": "CheckVoiceId", "Parameters": {"CheckVoiceIdOption": "voiceAuthentication"},
           "Transitions": {"Conditions": [
              {"NextAction": "end", "Condition": {"Operator": "Equals", "Operands": ["NotEnrolled"]}}],
              "Errors": [{"ErrorType": "NoMatchingCondition", "NextAction": "end"}, {"ErrorType": "NoMatchingError", "NextAction": "end"}]}},
          {"Identifier": "end", "Type": "EndFlowExecution", "Parameters": {}, "Transitions": {}}]}"#,
    )
    .unwrap();
    let out = run(&[
        "flow",
        "run",
        p(&flow),
        "--endpoint",
        &server.endpoint,
        "--data-dir",
        p(&data),
        "--domain-id",
        &domain,
        "--audio",
        p(&recording),
        "--attr",
        "Account=acct-42",
        "--contact-id",
        "cli-call-1",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("contact cli-call-1 (VOICE, ENDED)"), "{text}");
    assert!(
        text.contains("check") && text.contains("Condition:NotEnrolled"),
        "{text}"
    );

    // A chat contact takes the Error branch without any audio.
    let chat = run(&[
        "flow",
        "run",
        p(&flow),
        "--endpoint",
        &server.endpoint,
        "--data-dir",
        p(&data),
        "--domain-id",
        &domain,
        "--channel",
        "CHAT",
    ]);
    assert!(chat.status.success(), "{}", stderr(&chat));
    assert!(
        stdout(&chat).contains("Error:NoMatchingError"),
        "{}",
        stdout(&chat)
    );
}

#[test]
fn spoof_scores_synthetic_speech_high_and_human_speech_lower() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let human = shared.join("data/librispeech-251spk/198-126831-0000.flac");
    if !shared.join("models/aasist/AASIST.pth").is_file() || !human.is_file() {
        eprintln!(
            "skipping: AASIST weights or LibriSpeech data not found under {}",
            shared.display()
        );
        return;
    }
    let Some(tts) = speech(VOICE_A, 0) else {
        return;
    };
    let out = run(&[
        "spoof",
        "--models-dir",
        p(&shared.join("models")),
        "--max-windows",
        "1",
        p(&tts),
        p(&human),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON line per file"))
        .collect();
    assert_eq!(lines.len(), 2);
    let risk = |i: usize| lines[i]["risk_score"].as_u64().unwrap();
    assert!(
        lines[0]["high_risk"].as_bool().unwrap() && risk(0) >= 50,
        "{:?}",
        lines[0]
    );
    assert!(
        !lines[1]["high_risk"].as_bool().unwrap() && risk(1) < risk(0),
        "{:?}",
        lines[1]
    );
    // A missing file is a runtime error with the path.
    let missing = run(&[
        "spoof",
        "--models-dir",
        p(&shared.join("models")),
        "/nonexistent.wav",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("/nonexistent.wav"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn voiceprints_commands_show_and_change_the_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeded = run(&[
        "admin",
        "seed-speakers",
        "--data-dir",
        p(&data),
        "--count",
        "2",
    ]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let domain = stdout(&seeded)
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    let server = serve(&data);
    let vp = |args: &[&str]| {
        let mut all = vec!["voiceprints"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--endpoint",
            &server.endpoint,
            "--data-dir",
            p(&data),
            "--domain-id",
            &domain,
        ]);
        run(&all)
    };
    let json = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}\n{}", stdout(o), stderr(o));
        serde_json::from_str(&stdout(o)).unwrap()
    };

    let listed = json(&vp(&["list"]));
    let voiceprints = listed["Voiceprints"].as_array().unwrap();
    assert_eq!(voiceprints.len(), 2, "{listed}");
    assert!(voiceprints.iter().all(|v| v["State"] == "TRAINED"));
    let speaker = voiceprints[0]["GeneratedSpeakerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let described = json(&vp(&["describe", "--speaker-id", &speaker]));
    assert_eq!(described["Voiceprint"]["SpeakerStatus"], "ENROLLED");

    let set = json(&vp(&[
        "set",
        "--settings",
        r#"{"MinimumCallsForVoiceprint": 3, "RequireApproval": true}"#,
    ]));
    assert_eq!(set["EngineSettings"]["MinimumCallsForVoiceprint"], 3);
    assert_eq!(
        json(&vp(&["settings"]))["EngineSettings"]["RequireApproval"],
        true
    );
    assert_eq!(
        json(&vp(&["list", "--state", "PENDING_APPROVAL"]))["Voiceprints"],
        serde_json::json!([])
    );

    // Errors come back as the API's error, with a failing exit status.
    let approve = vp(&["approve", "--speaker-id", &speaker]);
    assert_eq!(approve.status.code(), Some(1), "{}", stdout(&approve));
    assert!(
        stderr(&approve).contains("not pending approval"),
        "{}",
        stderr(&approve)
    );
    let bad = vp(&["set", "--settings", "{not json"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

/// Trial list text over files `a` (speaker A) and `b` (speaker B): enrollment on the
/// first two of each, targets and non-targets on the rest, paths as `name` gives them.
fn two_speaker_list(a: &[String], b: &[String], test_name: impl Fn(&String) -> String) -> String {
    let mut list = String::new();
    for (own, other) in [(a, b), (b, a)] {
        let e = format!("{},{}", own[0], own[1]);
        for t in &own[2..] {
            list += &format!("{e}\t{}\ttarget\n", test_name(t));
        }
        for t in other {
            list += &format!("{e}\t{}\tnontarget\n", test_name(t));
        }
    }
    list
}

#[test]
fn fusion_fit_and_eval_measure_each_channel_and_report_every_model() {
    if !model_runs("campplus") || !model_runs("ge2e") {
        return;
    }
    let mut a = Vec::new();
    let mut b = Vec::new();
    for s in 0..4 {
        let (Some(fa), Some(fb)) = (speech(VOICE_A, s), speech(VOICE_B, s)) else { return };
        a.push(fa);
        b.push(fb);
    }
    if Command::new("sox").arg("--version").output().is_err() {
        eprintln!("skipping: sox not installed");
        return;
    }
    let dir = a[0].parent().unwrap().join("fusion");
    std::fs::create_dir_all(&dir).unwrap();
    // Every file also as 8 kHz G.711 μ-law, what a telephone call delivers.
    let mut names = (Vec::new(), Vec::new());
    for (files, out) in [(&a, &mut names.0), (&b, &mut names.1)] {
        for f in files.iter() {
            let name = f.file_name().unwrap().to_str().unwrap().to_owned();
            let phone = dir.join(format!("phone_{name}"));
            let st = Command::new("sox").arg(f).args(["-r", "8000", "-e", "u-law"]).arg(&phone).status().unwrap();
            assert!(st.success());
            out.push(format!("../{name}"));
        }
    }
    let phone = |n: &String| format!("phone_{}", n.trim_start_matches("../"));
    let wide_list = two_speaker_list(&names.0, &names.1, |n| n.clone());
    let phone_a: Vec<String> = names.0.iter().map(phone).collect();
    let phone_b: Vec<String> = names.1.iter().map(phone).collect();
    let phone_list = two_speaker_list(&phone_a, &phone_b, |n| n.clone());
    let cross_list = two_speaker_list(&names.0, &names.1, phone);
    let lists: Vec<PathBuf> = [("wide", wide_list), ("phone", phone_list), ("cross", cross_list)]
        .into_iter()
        .map(|(n, text)| {
            let path = dir.join(format!("{n}.tsv"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    let fusion = dir.join("fusion.json");
    let mut args = vec!["fusion", "fit", "--out", p(&fusion)];
    for l in &lists {
        args.extend(["--trials", p(l)]);
    }
    // Two lists only: the cross-channel condition has no calibration data.
    let out = run(&args[..args.len() - 2]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cross-channel"), "{}", stderr(&out));

    let features = dir.join("features.json");
    args.extend(["--save-features", p(&features)]);
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    for condition in ["| wideband |", "| narrowband |", "| cross-channel |"] {
        assert!(table.contains(condition), "the channel is measured, not given: {table}");
    }
    let fitted: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&fusion).unwrap()).unwrap();
    assert_eq!(fitted["weights"].as_array().unwrap().len(), 9);
    let conditions = &fitted["condition_weights"];
    assert_eq!(conditions[0][0], "duration", "{fitted}");
    assert_eq!(conditions[1][1].as_f64(), Some(0.0), "a shift only without --duration-rescale: {fitted}");
    // No test here is noisy (espeak's pauses are digital silence): every noise shift
    // scores alike, and the search keeps the smallest, none.
    assert_eq!(conditions[2][0], "noise", "{fitted}");
    assert_eq!(conditions[2][1].as_f64(), Some(0.0), "{fitted}");
    // The features record each test's net speech, SNR and STNR (the last column).
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&features).unwrap()).unwrap();
    let row = saved["lists"][0]["trials"][0].as_array().unwrap();
    assert_eq!(row.len(), 8, "{row:?}");
    assert!(row[7].as_f64().unwrap() > 25.0, "clean synthetic speech reads as clean: {row:?}");
    // Refitting from the saved features, without embedding: the same fusion file.
    let refit = dir.join("refit.json");
    let out = run(&["fusion", "fit", "--features", p(&features), "--out", p(&refit)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&refit).unwrap(), std::fs::read_to_string(&fusion).unwrap());
    assert_eq!(stdout(&out), table);
    // Features of cosine part scores cannot fit an S-norm fusion.
    let out = run(&["fusion", "fit", "--features", p(&features), "--part-score", "s-norm", "--out", p(&refit)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for anchors in ["wideband", "narrowband", "cross_channel"] {
        let (r50, r90) = (fitted[anchors]["raw_at_50"].as_f64().unwrap(), fitted[anchors]["raw_at_90"].as_f64().unwrap());
        assert!(r90 > r50, "{anchors}: {fitted}");
    }

    let out = run(&["eval", "--model", "fusion", "--fusion", p(&fusion), "--trials", p(&lists[0]), "--trials", p(&lists[1]), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summaries: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let summaries = summaries.as_array().expect("one summary per list");
    assert_eq!(summaries.len(), 2);
    for s in summaries {
        assert_eq!(s["score_kind"], "fused", "{s}");
        let parts: Vec<&str> = s["parts"].as_array().unwrap().iter().map(|p| p["model"].as_str().unwrap()).collect();
        assert_eq!(parts, ["campplus", "ge2e"]);
        assert_eq!(s["target_trials"], 4);
        assert_eq!(s["nontarget_trials"], 8);
    }
}

/// Twenty espeak-ng voices (variants of several English voices): a small domain.
const DOMAIN_VOICES: [&str; 20] = [
    "en-us+m1", "en-us+m2", "en-us+m3", "en-us+m4", "en-us+m5", "en-us+m6", "en-us+m7",
    "en-gb+f1", "en-gb+f2", "en-gb+f3", "en-gb+f4", "en-gb+f5", "en-gb-scotland",
    "en-gb-scotland+f2", "en-029", "en-029+f4", "en-gb-x-rp+m3", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-gb+croak",
];

#[test]
fn eval_with_a_domain_cohort_normalises_against_the_other_enrollments_from_twenty_speakers() {
    if !model_runs("campplus") || !model_runs("ge2e") {
        return;
    }
    // Every voice: enrollment of two sentences, test on a third.
    let mut rows = Vec::new();
    for v in DOMAIN_VOICES {
        let (Some(e0), Some(e1), Some(t)) = (speech(v, 0), speech(v, 1), speech(v, 2)) else { return };
        rows.push((format!("{},{}", p(&e0), p(&e1)), p(&t).to_owned()));
    }
    let list = |enrollments: usize| -> String {
        let mut text = String::new();
        for (i, (enroll, _)) in rows.iter().take(enrollments).enumerate() {
            for (j, (_, test)) in rows.iter().enumerate() {
                let label = if i == j { "target" } else { "nontarget" };
                text += &format!("{enroll}\t{test}\t{label}\n");
            }
        }
        text
    };
    let dir = speech(DOMAIN_VOICES[0], 0).unwrap().parent().unwrap().join("domain");
    std::fs::create_dir_all(&dir).unwrap();
    let (full, short) = (dir.join("twenty.tsv"), dir.join("nineteen.tsv"));
    std::fs::write(&full, list(20)).unwrap();
    std::fs::write(&short, list(19)).unwrap();

    // The shipped domain fusion normalises against 55 voiceprints; a copy set to 18
    // makes these twenty voices a domain (18 + the claimed + the test speaker).
    let mut fusion: serde_json::Value =
        serde_json::from_str(include_str!("../../engine/fusion-domain.json")).unwrap();
    fusion["cohort_size"] = 18.into();
    let small = dir.join("domain-fusion-18.json");
    std::fs::write(&small, fusion.to_string()).unwrap();
    let out = run(&[
        "eval", "--domain-cohort", "--domain-fusion", p(&small),
        "--trials", p(&full), "--trials", p(&short), "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summaries: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let [twenty, nineteen] = [&summaries[0], &summaries[1]];
    eprintln!("twenty: {twenty}\nnineteen: {nineteen}");
    // Twenty enrollments make the list its own cohort; nineteen are too few for 18
    // impostors per trial and keep the plain fusion.
    assert_eq!(twenty["score_kind"], "fused-s-norm");
    assert_eq!(nineteen["score_kind"], "fused");
    assert_eq!(twenty["target_trials"], 20);
    assert_eq!(twenty["parts"].as_array().unwrap().len(), 2, "{twenty}");
    // The normalised scores still tell the voices apart; and these synthetic voices
    // all sound alike to the models, which the plain fusion's calibration (fitted on
    // real speakers) cannot know — impostors reach 90 far more often without the cohort.
    assert!(twenty["eer"].as_f64().unwrap() < 0.2, "{twenty}");
    let (far_domain, far_plain) = (twenty["far_at_90"].as_f64().unwrap(), nineteen["far_at_90"].as_f64().unwrap());
    assert!(far_domain * 4.0 < far_plain, "FAR at 90: domain {far_domain}, plain {far_plain}");

    // Only the fused system has a domain fusion.
    let out = run(&["eval", "--model", "campplus", "--domain-cohort", "--trials", p(&full)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--domain-cohort needs --model fusion"), "{}", stderr(&out));
}
