//! Shared by the hardening tests (secrets_in_logs.rs, crash_harness.rs): real
//! speech for enrollments, and the real `voiceprint-server` binary started with
//! its output in files.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough for 30 s of net speech (enrollment).
pub const LONG_TEXT: &str = "The quick brown fox jumps over the lazy dog while the farmer counts his sheep in the early morning light. \
My account number is four five six seven, and I would like to check the balance on my savings account please. \
I have been a customer of this bank for more than ten years and I always pay my bills on time. \
Yesterday I tried to transfer some money to my sister but the transaction did not go through, so I am calling to find out what happened. \
Could you also tell me when my new card will arrive in the mail? I moved to a new address last month, on the corner of Maple Street and Seventh Avenue, right next to the old library. \
The weather has been terrible lately and the roads near my house are flooded, which is why I could not come to the branch in person.";
pub const SHORT_TEXT: &str = "Hello, I am calling about a payment that I made last week. The amount was two hundred and fifteen dollars \
and it was sent to the electric company. Please let me know if there is anything else you need from me today.";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn models_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    dir.join("campplus/campplus_cn_en_common.pt")
        .is_file()
        .then_some(dir)
}

pub fn have(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `text` spoken by espeak-ng `voice`, as headerless 8 kHz μ-law (the shared harness's).
pub use crate::common::speech::mulaw_speech;

pub struct LoggedServer {
    pub child: Child,
    pub addr: String,
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary at trace level, stdout and stderr into files.
pub fn spawn_logged(
    data: &Path,
    env: &[(&str, &str)],
    stdout: &Path,
    stderr: &Path,
) -> LoggedServer {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voiceprint-server"));
    cmd.args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::from(File::create(stdout).unwrap()))
        .stderr(Stdio::from(File::create(stderr).unwrap()))
        .spawn()
        .expect("binary runs");
    let mut server = LoggedServer {
        child,
        addr: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(stdout).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find_map(|l| l.strip_prefix("voiceprint listening on http://"))
        {
            server.addr = line.trim().to_string();
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "server did not start: {text}\n{}",
            std::fs::read_to_string(stderr).unwrap_or_default()
        );
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "server exited {status}: {}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every `voiceprint_ct` stored under `data` in rows whose id starts with
/// `id_prefix` (a speaker's generated id covers its training segments too).
/// Opens the database read-only, so it works while the server runs.
pub fn stored_ciphertexts(data: &Path, id_prefix: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for path in all_files(data) {
        let is_sqlite = std::fs::read(&path)
            .ok()
            .is_some_and(|b| b.starts_with(b"SQLite format 3\0"));
        if !is_sqlite {
            continue;
        }
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            continue;
        };
        let Ok(mut stmt) = conn.prepare(
            "SELECT voiceprint_ct FROM records WHERE voiceprint_ct IS NOT NULL AND substr(id, 1, length(?1)) = ?1",
        ) else {
            continue;
        };
        let Ok(rows) = stmt.query_map([id_prefix], |r| r.get::<_, Vec<u8>>(0)) else {
            continue;
        };
        out.extend(rows.filter_map(Result::ok));
    }
    out
}

/// Every file under `dir`, recursively (missing directories: none).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
