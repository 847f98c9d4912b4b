//! Load generator for the Voice ID API: fixed-duration, fixed-concurrency
//! closed loop of SigV4-signed requests (signed per request with the server's
//! own `sigv4::sign_headers`, as an SDK would), printing requests/s and
//! latency percentiles. Used by `scripts/bench-api.sh`.
//!
//! Operations: `describe` = DescribeSpeaker of a random seeded speaker
//! (`seed-NNNNNNN`, as `admin seed-speakers` names them); `list` =
//! ListSpeakers with MaxResults 100 at a random page (the page tokens are
//! collected first by walking the domain once, since NextTokens are opaque).
//!
//! `mix` = 45% DescribeSpeaker, 15% ListSpeakers, 40% EvaluateSession of one of
//! `--sessions` sessions started up front (no audio: the control-plane path of
//! a live call's status polling), reported per operation.
//!
//! Soak: `--server-pid PID` samples the server's memory from /proc/PID/status
//! every `--rss-interval` seconds of the measured window: VmRSS, and RssAnon
//! (heap and stacks: what a leak grows; VmRSS also counts the SQLite database
//! pages each read connection's memory map has touched, once per connection),
//! and reports whether RssAnon stayed flat (last third's median within 10% of
//! the first third's).
//!
//! Usage: cargo run --release --example loadgen -- --endpoint http://127.0.0.1:7700
//!   --credentials DATA/credentials --domain ID --speakers 100000 --op describe

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderValue};
use clap::Parser;
use rand::Rng;
use serde_json::{json, Value};
use voiceprint_server::auth::Credentials;
use voiceprint_server::sigv4::{sign_headers, SigningKey};

#[derive(Debug, Parser)]
struct Args {
    /// Server base URL.
    #[arg(long)]
    endpoint: String,
    /// AWS shared-credentials file with the `voiceprint` profile.
    #[arg(long)]
    credentials: PathBuf,
    /// Domain holding the seeded speakers.
    #[arg(long)]
    domain: String,
    /// Number of seeded speakers (ids seed-0000000 ..).
    #[arg(long, default_value_t = 100_000)]
    speakers: usize,
    /// `describe`, `list` or `mix`.
    #[arg(long, default_value = "describe")]
    op: String,
    /// Sessions started for `mix`'s EvaluateSession calls.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// Server process to sample VmRSS of (soak mode).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds between VmRSS samples.
    #[arg(long, default_value_t = 5.0)]
    rss_interval: f64,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds (after a 1 s warm-up).
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
}

struct Caller {
    http: reqwest::Client,
    url: String,
    host: String,
    access_key_id: String,
    secret: String,
}

impl Caller {
    /// One signed call; returns the HTTP status and body.
    async fn call(&self, op: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "host",
            HeaderValue::from_str(&self.host).map_err(|e| e.to_string())?,
        );
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        headers.insert(
            "x-amz-target",
            HeaderValue::from_str(&format!("VoiceID.{op}")).map_err(|e| e.to_string())?,
        );
        let key = SigningKey {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret,
            region: "us-east-1",
            service: "voiceid",
        };
        sign_headers(
            "POST",
            "/",
            "",
            &mut headers,
            &body,
            &key,
            SystemTime::now(),
        );
        let resp = self
            .http
            .post(&self.url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, bytes.to_vec()))
    }
}

/// `field` (e.g. `VmRSS`, `RssAnon`) of /proc/`pid`/status, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (access_key_id, secret) = Credentials::read_shared_credentials_file(&args.credentials)?;
    let url = format!("{}/", args.endpoint.trim_end_matches('/'));
    let host = args
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let caller = Arc::new(Caller {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .tcp_nodelay(true)
            .build()?,
        url,
        host,
        access_key_id,
        secret,
    });

    // (operation, weight in percent) drawn per request.
    let mix: &'static [(&'static str, u32)] = match args.op.as_str() {
        "describe" => &[("DescribeSpeaker", 100)],
        "list" => &[("ListSpeakers", 100)],
        "mix" => &[
            ("DescribeSpeaker", 45),
            ("ListSpeakers", 15),
            ("EvaluateSession", 40),
        ],
        other => return Err(format!("unknown --op {other}; use describe, list or mix").into()),
    };
    let uses = |op: &str| mix.iter().any(|(o, _)| *o == op);
    // EvaluateSession: sessions to poll, started once.
    let mut sessions = Vec::new();
    if uses("EvaluateSession") {
        for i in 0..args.sessions {
            let name = format!("load-{}-{i}", std::process::id());
            let input = json!({"DomainId": args.domain, "SessionName": name});
            let (status, body) = caller
                .call("StartSession", input.to_string().into_bytes())
                .await?;
            if status != 200 {
                let v = String::from_utf8_lossy(&body);
                return Err(format!("StartSession failed: {status} {v}").into());
            }
            sessions.push(name);
        }
    }
    let sessions = Arc::new(sessions);
    // ListSpeakers: collect every page's token once (None = first page).
    let mut tokens: Vec<Option<String>> = vec![None];
    if uses("ListSpeakers") {
        let started = Instant::now();
        loop {
            let mut input = json!({"DomainId": args.domain, "MaxResults": 100});
            if let Some(Some(t)) = tokens.last() {
                input["NextToken"] = json!(t);
            }
            let (status, body) = caller
                .call("ListSpeakers", input.to_string().into_bytes())
                .await?;
            let v: Value = serde_json::from_slice(&body)?;
            if status != 200 {
                return Err(format!("ListSpeakers failed: {status} {v}").into());
            }
            match v.get("NextToken").and_then(Value::as_str) {
                Some(t) => tokens.push(Some(t.to_string())),
                None => break,
            }
        }
        eprintln!(
            "collected {} page tokens in {:.1} s",
            tokens.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let tokens = Arc::new(tokens);

    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (caller, stop, measuring, tokens, sessions) = (
            caller.clone(),
            stop.clone(),
            measuring.clone(),
            tokens.clone(),
            sessions.clone(),
        );
        let (domain, speakers) = (args.domain.clone(), args.speakers);
        tasks.push(tokio::spawn(async move {
            // Per operation of the mix: latencies, errors, first error.
            let mut stats: Vec<(Vec<u32>, u64, Option<String>)> = mix
                .iter()
                .map(|_| (Vec::with_capacity(1 << 14), 0, None))
                .collect();
            while !stop.load(Ordering::Relaxed) {
                let (which, input) = {
                    let mut rng = rand::thread_rng();
                    let mut roll = rng.gen_range(0..100);
                    let which = mix
                        .iter()
                        .position(|(_, w)| {
                            let hit = roll < *w;
                            roll = roll.saturating_sub(*w);
                            hit
                        })
                        .unwrap_or(0);
                    let input = match mix[which].0 {
                        "DescribeSpeaker" => json!({"DomainId": domain,
                               "SpeakerId": format!("seed-{:07}", rng.gen_range(0..speakers))}),
                        "EvaluateSession" => json!({"DomainId": domain,
                               "SessionNameOrId": sessions[rng.gen_range(0..sessions.len())]}),
                        _ => {
                            let mut v = json!({"DomainId": domain, "MaxResults": 100});
                            if let Some(t) = &tokens[rng.gen_range(0..tokens.len())] {
                                v["NextToken"] = json!(t);
                            }
                            v
                        }
                    };
                    (which, input)
                };
                let t0 = Instant::now();
                let result = caller
                    .call(mix[which].0, input.to_string().into_bytes())
                    .await;
                let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                let (latencies_us, errors, first_error) = &mut stats[which];
                match result {
                    Ok((200, _)) => latencies_us.push(us),
                    Ok((status, body)) => {
                        *errors += 1;
                        first_error.get_or_insert_with(|| {
                            format!("{status} {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        *errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            stats
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut rss_kib = Vec::new();
    if let Some(pid) = args.server_pid {
        let every = Duration::from_secs_f64(args.rss_interval);
        while started.elapsed().as_secs_f64() < args.duration {
            if let Some(anon) = proc_status_kib(pid, "RssAnon") {
                let rss = proc_status_kib(pid, "VmRSS").unwrap_or(0);
                eprintln!(
                    "t={:>6.1} s  RssAnon {anon:>8} KiB  VmRSS {rss:>8} KiB",
                    started.elapsed().as_secs_f64()
                );
                rss_kib.push(anon);
            }
            let left = Duration::from_secs_f64(args.duration)
                - started
                    .elapsed()
                    .min(Duration::from_secs_f64(args.duration));
            tokio::time::sleep(every.min(left)).await;
        }
        rss_kib.extend(proc_status_kib(pid, "RssAnon"));
    } else {
        tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);

    let mut merged: Vec<(Vec<u32>, u64, Option<String>)> =
        mix.iter().map(|_| (Vec::new(), 0, None)).collect();
    for t in tasks {
        for (m, (lat, e, fe)) in merged.iter_mut().zip(t.await?) {
            m.0.extend(lat);
            m.1 += e;
            if m.2.is_none() {
                m.2 = fe;
            }
        }
    }
    let mut total = (Vec::new(), 0);
    for ((operation, _), (mut all, errors, first_error)) in mix.iter().zip(merged) {
        all.sort_unstable();
        println!(
            "{operation}: {} ok in {elapsed:.1} s = {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors} (concurrency {})",
            all.len(),
            all.len() as f64 / elapsed,
            percentile(&all, 0.50),
            percentile(&all, 0.99),
            args.concurrency
        );
        if let Some(e) = first_error {
            println!("first error: {e}");
        }
        total.0.extend(all);
        total.1 += errors;
    }
    if mix.len() > 1 {
        let (mut all, errors) = total;
        all.sort_unstable();
        println!(
            "all: {} ok = {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
            all.len(),
            all.len() as f64 / elapsed,
            percentile(&all, 0.50),
            percentile(&all, 0.99),
        );
    }
    if rss_kib.len() >= 3 {
        let third = rss_kib.len() / 3;
        let first = median(rss_kib[..third.max(1)].to_vec());
        let last = median(rss_kib[rss_kib.len() - third.max(1)..].to_vec());
        let growth = (last as f64 - first as f64) / first as f64 * 100.0;
        println!(
            "server RssAnon: {} samples, first-third median {first} KiB, last-third median {last} KiB ({growth:+.1}%), max {} KiB: {}",
            rss_kib.len(),
            rss_kib.iter().max().unwrap(),
            if growth.abs() <= 10.0 { "flat" } else { "NOT flat" }
        );
    }
    Ok(())
}
