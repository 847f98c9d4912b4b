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
    /// `describe` or `list`.
    #[arg(long, default_value = "describe")]
    op: String,
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

    let operation = match args.op.as_str() {
        "describe" => "DescribeSpeaker",
        "list" => "ListSpeakers",
        other => return Err(format!("unknown --op {other}; use describe or list").into()),
    };
    // ListSpeakers: collect every page's token once (None = first page).
    let mut tokens: Vec<Option<String>> = vec![None];
    if operation == "ListSpeakers" {
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
        let (caller, stop, measuring, tokens) = (
            caller.clone(),
            stop.clone(),
            measuring.clone(),
            tokens.clone(),
        );
        let (domain, speakers) = (args.domain.clone(), args.speakers);
        tasks.push(tokio::spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 16);
            let (mut errors, mut first_error) = (0u64, None::<String>);
            while !stop.load(Ordering::Relaxed) {
                let input = {
                    let mut rng = rand::thread_rng();
                    if operation == "DescribeSpeaker" {
                        json!({"DomainId": domain,
                               "SpeakerId": format!("seed-{:07}", rng.gen_range(0..speakers))})
                    } else {
                        let mut v = json!({"DomainId": domain, "MaxResults": 100});
                        if let Some(t) = &tokens[rng.gen_range(0..tokens.len())] {
                            v["NextToken"] = json!(t);
                        }
                        v
                    }
                };
                let t0 = Instant::now();
                let result = caller.call(operation, input.to_string().into_bytes()).await;
                let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match result {
                    Ok((200, _)) => latencies_us.push(us),
                    Ok((status, body)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| {
                            format!("{status} {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies_us, errors, first_error)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);

    let (mut all, mut errors, mut first_error) = (Vec::new(), 0, None);
    for t in tasks {
        let (lat, e, fe) = t.await?;
        all.extend(lat);
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
    }
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
    Ok(())
}
