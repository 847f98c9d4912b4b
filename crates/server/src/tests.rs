//! HTTP-layer unit tests over an in-memory store (the integration tests in
//! `tests/` run the same paths on the real SQLite store and real binary).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::auth::Credentials;
use crate::config::{Config, FlagOverrides};
use crate::serve::{start_with, DataDir, RunningServer};

async fn server(no_auth: bool, max_body: usize) -> RunningServer {
    let flags = FlagOverrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: None,
        no_auth,
        ..Default::default()
    };
    let env = vec![(
        "VOICEPRINT__SERVER__MAX_BODY_BYTES".to_string(),
        max_body.to_string(),
    )];
    let config = Config::load(None, env, &flags).unwrap();
    let mut credentials = Credentials::default();
    credentials.insert("AKIDTEST", "secret");
    let data = DataDir {
        store: Arc::new(crate::memstore::MemStore::with_keys(&["default"])),
        credentials,
        access_key_id: "AKIDTEST".into(),
        secret_access_key: "secret".into(),
        token_key: vec![7; 32],
        first_start: false,
    };
    start_with(config, data).await.unwrap()
}

async fn post(
    s: &RunningServer,
    target: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}/", s.addr))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = target {
        req = req.header("x-amz-target", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

async fn call(s: &RunningServer, op: &str, body: Value) -> (u16, Value) {
    let (status, v, _) = post(
        s,
        Some(&format!("VoiceID.{op}")),
        "application/x-amz-json-1.0",
        body.to_string().into_bytes(),
    )
    .await;
    (status, v)
}

#[tokio::test]
async fn protocol_errors_are_aws_json() {
    let s = server(true, 4096).await;
    let (status, v) = call(
        &s,
        "CreateDomain",
        json!({"Name": "d1", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let domain_id = v["Domain"]["DomainId"].as_str().unwrap().to_string();
    assert!(v["Domain"]["CreatedAt"].is_f64() || v["Domain"]["CreatedAt"].is_number());
    assert_eq!(v["Domain"]["DomainStatus"], "ACTIVE");

    let (status, v, headers) = post(
        &s,
        Some("VoiceID.DescribeDomain"),
        "application/x-amz-json-1.0",
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    assert_eq!(headers["content-type"], "application/x-amz-json-1.0");
    assert!(headers.contains_key("x-amzn-requestid"));

    let (status, v, _) = post(
        &s,
        Some("VoiceID.DescribeDomain"),
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (415, Some("UnsupportedMediaTypeException"))
    );

    let (status, v, _) = post(
        &s,
        Some("VoiceID.DescribeDomain"),
        "application/x-amz-json-1.0",
        vec![b' '; 5000],
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (413, Some("RequestEntityTooLargeException"))
    );

    let (status, v) = call(&s, "NoSuchThing", json!({})).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );
    let (status, v, _) = post(&s, None, "application/x-amz-json-1.0", b"{}".to_vec()).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );

    let (status, v) = call(&s, "DescribeDomain", json!({"DomainId": "A".repeat(22)})).await;
    assert_eq!(status, 400);
    assert_eq!(v["__type"], "ResourceNotFoundException");
    assert_eq!(v["ResourceType"], "DOMAIN");
    assert!(v["message"].is_string());

    let (status, v) = call(
        &s,
        "ListSpeakers",
        json!({"DomainId": domain_id, "MaxResults": "ten"}),
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("ValidationException")),
        "{v}"
    );

    let (status, v) = call(&s, "DescribeDomain", json!({"DomainId": domain_id})).await;
    let default_watchlist = v["Domain"]["WatchlistDetails"]["DefaultWatchlistId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status, 200);
    let (status, v) = call(
        &s,
        "DeleteWatchlist",
        json!({"DomainId": domain_id, "WatchlistId": default_watchlist}),
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("ValidationException"))
    );

    let (status, v) = call(&s, "DeleteDomain", json!({"DomainId": domain_id})).await;
    assert_eq!((status, &v), (200, &json!({})));

    let get_root = reqwest::get(format!("http://{}/", s.addr)).await.unwrap();
    assert_eq!(get_root.status().as_u16(), 404);
    assert_eq!(get_root.headers()["content-type"], "application/x-amz-json-1.0");
    let health = reqwest::get(format!("http://{}/health", s.addr))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = reqwest::get(format!("http://{}/metrics", s.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("voiceprint_requests_total{operation=\"CreateDomain\",outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("operation=\"DescribeDomain\",outcome=\"ResourceNotFoundException\"} 1")
    );
    assert!(
        metrics.contains("voiceprint_request_duration_seconds_count{operation=\"DescribeDomain\"}")
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn unsigned_requests_are_refused_when_auth_is_on() {
    let s = server(false, 1 << 20).await;
    let (status, v) = call(&s, "ListDomains", json!({})).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["__type"].as_str().unwrap().ends_with("Exception"));
    s.stop().await.unwrap();
}
