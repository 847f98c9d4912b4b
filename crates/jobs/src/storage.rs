//! Reading manifests and audio and writing output files through `object_store`:
//! `file://` (inside `jobs.file_root` only) and `s3://bucket/key` (any
//! S3-compatible endpoint).
//!
//! `object_store` is async; jobs run on plain threads, so this type owns a small
//! tokio runtime and blocks on it. One client per bucket is built on first use and
//! reused (connection pooling).

use std::collections::HashMap;
use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::config::JobsConfig;
use crate::error::{JobError, Result};

/// Blocking access to the object stores a job's URIs name.
pub struct ObjectStores {
    config: JobsConfig,
    /// Canonical `file_root`, when `file://` is allowed.
    file_root: Option<PathBuf>,
    local: Arc<LocalFileSystem>,
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ObjectStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStores")
            .field("file_root", &self.file_root)
            .field("s3", &self.config.s3)
            .finish_non_exhaustive()
    }
}

enum Location {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl ObjectStores {
    /// Call from a plain thread (not inside an async runtime): it owns a runtime.
    pub fn new(config: &JobsConfig) -> Result<Self> {
        let file_root = match &config.file_root {
            Some(root) => Some(std::fs::canonicalize(root).map_err(|e| {
                JobError::Config(format!("jobs.file_root {}: {e}", root.display()))
            })?),
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("jobs-io")
            .enable_all()
            .build()
            .map_err(|e| JobError::Config(format!("cannot start the jobs I/O runtime: {e}")))?;
        Ok(ObjectStores {
            config: config.clone(),
            file_root,
            local: Arc::new(LocalFileSystem::new()),
            buckets: Mutex::new(HashMap::new()),
            runtime,
        })
    }

    fn locate(&self, uri: &str) -> Result<Location> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || key.is_empty() {
                return Err(JobError::BadUri(format!(
                    "{uri}: an S3 URI must be s3://<bucket>/<key>"
                )));
            }
            return Ok(Location::S3 {
                bucket: bucket.into(),
                key: key.into(),
            });
        }
        if uri.starts_with("file://") {
            let Some(root) = &self.file_root else {
                return Err(JobError::BadUri(format!(
                    "{uri}: file:// URIs are disabled on this server (set jobs.file_root to allow a directory)"
                )));
            };
            let path = url::Url::parse(uri)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| {
                    JobError::BadUri(format!("{uri}: not a valid absolute file:// URI"))
                })?;
            if path.components().any(|c| matches!(c, Component::ParentDir))
                || !path.starts_with(root)
            {
                return Err(JobError::BadUri(format!(
                    "{uri}: outside the directory this server allows for file:// (jobs.file_root)"
                )));
            }
            return Ok(Location::File(path));
        }
        Err(JobError::BadUri(format!(
            "{uri}: only s3:// and file:// URIs are supported"
        )))
    }

    fn bucket(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = buckets.get(bucket) {
            return Ok(Arc::clone(s));
        }
        let s3 = &self.config.s3;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&s3.region)
            .with_virtual_hosted_style_request(s3.virtual_hosted_style)
            .with_allow_http(s3.allow_http)
            // A few quick retries: an unreachable store should fail the job in
            // seconds, not after object_store's default three minutes.
            .with_retry(object_store::RetryConfig {
                backoff: object_store::BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(20),
            });
        if let Some(e) = &s3.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(k) = &s3.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &s3.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            b.build()
                .map_err(|e| JobError::Config(format!("S3 client for bucket {bucket}: {e}")))?,
        );
        buckets.insert(bucket.into(), Arc::clone(&store));
        Ok(store)
    }

    fn resolve(&self, uri: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        match self.locate(uri)? {
            Location::File(p) => {
                let path = ObjectPath::from_absolute_path(&p)
                    .map_err(|e| JobError::BadUri(format!("{uri}: {e}")))?;
                Ok((self.local.clone() as Arc<dyn ObjectStore>, path))
            }
            Location::S3 { bucket, key } => {
                let path = ObjectPath::parse(&key)
                    .map_err(|e| JobError::BadUri(format!("{uri}: invalid object key: {e}")))?;
                Ok((self.bucket(&bucket)?, path))
            }
        }
    }

    /// The whole object at `uri`, refusing objects over `limit` bytes.
    pub fn get(&self, uri: &str, limit: u64) -> Result<Vec<u8>> {
        let (store, path) = self.resolve(uri)?;
        let map = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => JobError::NotFound { uri: uri.into() },
            other => JobError::Storage {
                uri: uri.into(),
                message: other.to_string(),
            },
        };
        self.runtime.block_on(async {
            let result = store.get(&path).await.map_err(map)?;
            let size = result.meta.size;
            if size > limit {
                return Err(JobError::TooLarge {
                    uri: uri.into(),
                    size,
                    limit,
                });
            }
            Ok(result.bytes().await.map_err(map)?.to_vec())
        })
    }

    /// Writes `bytes` to `uri` (replacing any object there).
    pub fn put(&self, uri: &str, bytes: Vec<u8>) -> Result<()> {
        let (store, path) = self.resolve(uri)?;
        self.runtime
            .block_on(store.put(&path, PutPayload::from(bytes)))
            .map_err(|e| JobError::Storage {
                uri: uri.into(),
                message: e.to_string(),
            })?;
        Ok(())
    }
}

/// Voice ID's output location: `<OutputDataConfig.S3Uri>/<jobId>/<input-file-name>.out`.
pub fn output_uri(output_prefix: &str, job_id: &str, input_uri: &str) -> String {
    let name = input_uri
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("manifest");
    format!(
        "{}/{job_id}/{name}.out",
        output_prefix.trim_end_matches('/')
    )
}

/// A `file://` URI for an absolute path (tests, CLI).
pub fn file_uri(path: &FsPath) -> String {
    url::Url::from_file_path(path)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("file://{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(root: Option<&FsPath>) -> ObjectStores {
        ObjectStores::new(&JobsConfig {
            file_root: root.map(FsPath::to_path_buf),
            ..JobsConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn output_uri_follows_voice_id_layout() {
        assert_eq!(
            output_uri("s3://out/prefix/", "J1", "s3://in/dir/manifest.json"),
            "s3://out/prefix/J1/manifest.json.out"
        );
        assert_eq!(
            output_uri("s3://out", "J1", "s3://in/m.json"),
            "s3://out/J1/m.json.out"
        );
    }

    #[test]
    fn file_uris_round_trip_inside_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let s = stores(Some(&root));
        let uri = file_uri(&root.join("sub/a.bin"));
        s.put(&uri, b"hello".to_vec()).unwrap();
        assert_eq!(s.get(&uri, 100).unwrap(), b"hello");
        assert!(matches!(
            s.get(&uri, 2),
            Err(JobError::TooLarge { size: 5, .. })
        ));
        let missing = file_uri(&root.join("nope.wav"));
        assert!(matches!(
            s.get(&missing, 100),
            Err(JobError::NotFound { .. })
        ));
        for bad in [
            "file:///etc/passwd".to_string(),
            format!("{}/../x", file_uri(&root)),
            "http://example.com/a".into(),
            "s3://bucket-only".into(),
        ] {
            assert!(
                matches!(s.get(&bad, 100), Err(JobError::BadUri(_))),
                "{bad}"
            );
        }
        let closed = stores(None);
        let err = closed.get(&uri, 100).unwrap_err();
        assert!(err.to_string().contains("file_root"), "{err}");
    }
}
