//! Process-level tests on the real `voiceprint-server` binary and real files:
//! first start, graceful shutdown, kill -9 during writes, and that a deleted
//! speaker's voiceprint leaves no trace in the data directory.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn first_start_writes_private_credentials_and_prints_how_to_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut server = spawn_binary(&data, &[]);
    let head = server.stdout_head.join("\n");
    assert!(head.contains("--profile voiceprint"), "{head}");
    assert!(head.contains("aws --endpoint-url http://"), "{head}");
    assert!(head.contains("boto3"), "{head}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (id, secret) = read_credentials(&data);
    let c = Client::new(server.addr.clone(), &id, &secret);
    let v = rt.block_on(c.ok("ListDomains", json!({})));
    assert_eq!(v["DomainSummaries"], json!([]));
    // SIGTERM: graceful shutdown, exit status 0.
    #[cfg(unix)]
    {
        unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
        let status = server.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
    // The second start reuses the credentials and prints no first-start help.
    let server = spawn_binary(&data, &[]);
    assert!(server.stdout_head.is_empty(), "{:?}", server.stdout_head);
    assert_eq!(read_credentials(&data), (id.clone(), secret.clone()));
    let c = Client::new(server.addr.clone(), &id, &secret);
    rt.block_on(c.ok("ListDomains", json!({})));
}

#[test]
fn kill_9_during_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut server = spawn_binary(&data, &[]);
    let (id, secret) = read_credentials(&data);
    let c = Client::new(server.addr.clone(), &id, &secret);
    let dom = rt.block_on(c.ok(
        "CreateDomain",
        json!({"Name": "crash", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
    ))["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_string();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    rt.block_on(async {
        let mut writers = Vec::new();
        for w in 0..4 {
            let (c, dom, acked) = (c.clone(), dom.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let speaker = format!("w{w}-{i:06}");
                    let (status, _) = c
                        .call(
                            "OptOutSpeaker",
                            json!({"DomainId": dom, "SpeakerId": speaker}),
                        )
                        .await;
                    if status != 200 {
                        break;
                    }
                    acked.lock().unwrap().push(speaker);
                }
            }));
        }
        // Let writes flow, then SIGKILL the server mid-stream.
        while acked.lock().unwrap().len() < 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.child.kill().unwrap(); // SIGKILL on Unix
        server.child.wait().unwrap();
        for w in writers {
            let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
        }
    });
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);

    // The database opens clean and holds every acknowledged write.
    let server = spawn_binary(&data, &[]);
    let c = Client::new(server.addr.clone(), &id, &secret);
    rt.block_on(async {
        let health = reqwest::get(format!("http://{}/health", server.addr))
            .await
            .unwrap();
        assert_eq!(health.status().as_u16(), 200);
        for speaker in &acked {
            let v = c
                .ok(
                    "DescribeSpeaker",
                    json!({"DomainId": dom, "SpeakerId": speaker}),
                )
                .await;
            assert_eq!(v["Speaker"]["Status"], "OPTED_OUT", "{speaker}");
        }
        // Every stored row decodes.
        let mut count = 0;
        let mut token: Option<serde_json::Value> = None;
        loop {
            let mut req = json!({"DomainId": dom, "MaxResults": 100});
            if let Some(t) = &token {
                req["NextToken"] = t.clone();
            }
            let page = c.ok("ListSpeakers", req).await;
            count += page["SpeakerSummaries"].as_array().unwrap().len();
            match page.get("NextToken") {
                Some(t) => token = Some(t.clone()),
                None => break,
            }
        }
        assert!(
            count >= acked.len(),
            "{count} rows < {} acknowledged",
            acked.len()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_speaker_leaves_no_voiceprint_bytes_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = start_in_process(dir.path()).await;
    let dom = c
        .ok(
            "CreateDomain",
            json!({"Name": "raw", "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"}}),
        )
        .await["Domain"]["DomainId"]
        .as_str()
        .unwrap()
        .to_string();
    // A distinctive, incompressible 1 KiB voiceprint.
    let voiceprint: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let ids = server
        .service
        .admin_put_speakers(&dom, vec![("victim".into(), voiceprint.clone())], None)
        .unwrap();
    let ciphertext = stored_voiceprint_ciphertext(dir.path(), &ids[0]);
    assert!(ciphertext.len() >= voiceprint.len());
    // Before deletion the ciphertext is on disk and the plaintext is not.
    let before: Vec<u8> = all_files(dir.path())
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(
        contains(&before, &ciphertext[..64]),
        "the probe must see stored bytes"
    );
    assert!(
        !contains(&before, &voiceprint[..64]),
        "voiceprints are encrypted at rest"
    );

    c.ok(
        "DeleteSpeaker",
        json!({"DomainId": dom, "SpeakerId": "victim"}),
    )
    .await;
    for path in all_files(dir.path()) {
        let bytes = std::fs::read(&path).unwrap();
        for window in [
            &voiceprint[..32],
            &voiceprint[500..532],
            &ciphertext[..32],
            &ciphertext[600..632],
        ] {
            assert!(
                !contains(&bytes, window),
                "{} still holds voiceprint bytes",
                path.display()
            );
        }
    }
    server.stop().await.unwrap();
}

/// The voiceprint ciphertext of speaker `id` as stored in the SQLite database.
fn stored_voiceprint_ciphertext(data_dir: &std::path::Path, id: &str) -> Vec<u8> {
    for path in all_files(data_dir) {
        let head = std::fs::read(&path)
            .map(|b| b.get(..16).map(<[u8]>::to_vec))
            .ok()
            .flatten();
        if head.as_deref() != Some(b"SQLite format 3\0") {
            continue;
        }
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        if let Ok(ct) = conn.query_row(
            "SELECT voiceprint_ct FROM records WHERE id = ?1",
            [id],
            |r| r.get::<_, Vec<u8>>(0),
        ) {
            return ct;
        }
    }
    panic!(
        "no SQLite database with the speaker's row under {}",
        data_dir.display()
    );
}
