//! Start-up: configuration, first-start bootstrap of the data directory, the
//! listener, graceful shutdown; plus the bulk-seeding admin path.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use voiceprint_store::Store;
use voiceprint_voiceid::{Biometrics, VoiceIdService};

use crate::auth::{Authenticator, Credentials, NoAuth, SigV4Authenticator};
use crate::config::{Config, FlagOverrides};
use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// `voiceprint serve`: run the Voice ID API server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file layered over the built-in defaults (see config/default.toml).
    #[arg(long, env = "VOICEPRINT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: database, keyring, credentials [config: server.data_dir, default ./voiceprint-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one [config: server.listen, default 127.0.0.1:7700].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Accept unsigned requests. For local experiments only; never the default.
    #[arg(long)]
    pub no_auth: bool,
    /// PostgreSQL connection string: several nodes share one database [config: store.database_url, default: SQLite in the data dir].
    #[arg(
        long,
        env = "VOICEPRINT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl ServeArgs {
    /// Load the layered configuration for these flags from the process environment.
    pub fn load_config(&self) -> Result<Config, ServeError> {
        Config::load(
            self.config.as_deref(),
            std::env::vars(),
            &FlagOverrides {
                listen: self.listen,
                data_dir: self.data_dir.clone(),
                no_auth: self.no_auth,
                database_url: self.database_url.clone(),
            },
        )
    }
}

/// What the data directory holds once bootstrapped.
pub struct DataDir {
    pub store: Arc<dyn Store>,
    pub credentials: Credentials,
    /// The generated credentials (profile `voiceprint`).
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Secret for NextTokens and idempotency digests.
    pub token_key: Vec<u8>,
    /// Whether this start created the directory's credentials.
    pub first_start: bool,
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> Result<(), ServeError> {
    use std::os::unix::fs::OpenOptionsExt;
    // Write to a temporary name and rename, so a crash never leaves half a file.
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| ServeError::io(&tmp, e))?;
    f.write_all(contents)
        .and_then(|_| f.sync_all())
        .map_err(|e| ServeError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ServeError::io(path, e))
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> Result<(), ServeError> {
    std::fs::write(path, contents).map_err(|e| ServeError::io(path, e))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The store: SQLite in the data directory, or PostgreSQL when a database URL is
/// configured. The keyring always lives in the data directory (created on first
/// start; the default master key may come from VOICEPRINT_MASTER_KEY / _FILE).
fn open_store(dir: &Path, database_url: &str) -> Result<Arc<dyn Store>, ServeError> {
    let keyring = voiceprint_store::Keyring::open_or_create(dir)?;
    if database_url.is_empty() {
        Ok(Arc::new(voiceprint_store::SqliteStore::open(dir, keyring)?))
    } else {
        Ok(Arc::new(voiceprint_store::PostgresStore::connect(
            database_url,
            keyring,
        )?))
    }
}

/// Open (creating on first start) the store, keyring, credentials and server secret.
pub fn open_data_dir(config: &Config) -> Result<DataDir, ServeError> {
    let dir = &config.server.data_dir;
    std::fs::create_dir_all(dir).map_err(|e| ServeError::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let store = open_store(dir, &config.store.database_url)?;

    let secret_path = dir.join("server-secret");
    let token_key = match std::fs::read_to_string(&secret_path) {
        Ok(text) => unhex(&text).filter(|k| k.len() >= 32).ok_or_else(|| {
            ServeError::Config(format!(
                "{}: expected 64 hex characters",
                secret_path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::RngCore;
            let mut key = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            write_private(&secret_path, crate::sigv4::hex(&key).as_bytes())?;
            key
        }
        Err(e) => return Err(ServeError::io(&secret_path, e)),
    };

    let cred_path = dir.join("credentials");
    let (first_start, (access_key_id, secret_access_key)) = if cred_path.exists() {
        (
            false,
            Credentials::read_shared_credentials_file(&cred_path)?,
        )
    } else {
        let (id, secret) = Credentials::generate();
        write_private(
            &cred_path,
            Credentials::shared_credentials_file(&id, &secret).as_bytes(),
        )?;
        (true, (id, secret))
    };
    let mut credentials = Credentials::default();
    credentials.insert(&access_key_id, &secret_access_key);
    if !config.auth.access_key_id.is_empty() {
        credentials.insert(&config.auth.access_key_id, &config.auth.secret_access_key);
    }
    Ok(DataDir {
        store,
        credentials,
        access_key_id,
        secret_access_key,
        token_key,
        first_start,
    })
}

fn first_start_help(config: &Config, addr: SocketAddr) -> String {
    let cred = config.server.data_dir.join("credentials");
    let region = &config.aws.region;
    format!(
        "Created credentials in {cred} (AWS shared-credentials format, profile `voiceprint`).\n\
         Use them with the AWS CLI:\n  \
         AWS_SHARED_CREDENTIALS_FILE={cred} aws --endpoint-url http://{addr} --profile voiceprint --region {region} voice-id list-domains\n\
         or boto3:\n  \
         boto3.Session(profile_name=\"voiceprint\").client(\"voice-id\", endpoint_url=\"http://{addr}\", region_name=\"{region}\")\n  \
         (with AWS_SHARED_CREDENTIALS_FILE={cred} in the environment)\n",
        cred = cred.display()
    )
}

/// A server running in this process (tests, embedding).
pub struct RunningServer {
    pub addr: SocketAddr,
    pub service: Arc<VoiceIdService>,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Bound addresses of the AudioSocket / SIPREC listeners (stopped with the server).
    pub telephony: crate::stream::telephony::TelephonyListeners,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl RunningServer {
    /// Stop accepting, finish in-flight requests, and wait for the server to end.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .map_err(|e| ServeError::Server(std::io::Error::other(e)))?
    }
}

/// Bootstrap the data directory, bind, and serve in the background until
/// [`RunningServer::stop`] or SIGTERM/Ctrl-C.
pub async fn start(config: Config) -> Result<RunningServer, ServeError> {
    let data = tokio::task::spawn_blocking({
        let config = config.clone();
        move || open_data_dir(&config)
    })
    .await
    .map_err(|e| ServeError::Server(std::io::Error::other(e)))??;
    start_with(config, data).await
}

/// [`start`] over an already opened data directory.
pub async fn start_with(config: Config, data: DataDir) -> Result<RunningServer, ServeError> {
    let mut service =
        VoiceIdService::new(data.store.clone(), config.service_config(), &data.token_key);
    if let Some(biometrics) = load_biometrics(&config).await? {
        service = service.with_biometrics(biometrics);
    }
    let antispoof = config.antispoof.clone();
    if let Some(scorer) = tokio::task::spawn_blocking(move || crate::antispoof::load(&antispoof))
        .await
        .map_err(|e| ServeError::Server(std::io::Error::other(e)))?
    {
        service = service.with_spoof_scorer(scorer);
    }
    // ---- batch jobs (voiceprint-jobs, issue 6) --------------------------------
    // The runner goes into the service before it is shared; starting it queues the
    // jobs a crash or shutdown interrupted, so they resume here.
    let job_runner = voiceprint_jobs::BatchJobRunner::new(batch_jobs_config(&config));
    let service = Arc::new(service.with_job_runner(job_runner.clone()));
    // The store blocks (PostgreSQL's client even refuses to run on a runtime
    // thread): start-up reads happen on a blocking thread.
    tokio::task::spawn_blocking({
        let (job_runner, service) = (job_runner.clone(), service.clone());
        move || -> Result<(), ServeError> {
            job_runner
                .start(service.clone())
                .map_err(|e| ServeError::Config(format!("batch jobs: {e}")))?;
            service.resume_background_work()?;
            Ok(())
        }
    })
    .await
    .map_err(|e| ServeError::Server(std::io::Error::other(e)))??;
    // ---- end batch jobs -------------------------------------------------------
    spawn_voiceprint_retraining(service.clone());
    let auth: Arc<dyn Authenticator> = if config.auth.enabled {
        Arc::new(SigV4Authenticator {
            credentials: data.credentials.clone(),
        })
    } else {
        tracing::warn!("SigV4 authentication is OFF (--no-auth): any client can call the API");
        Arc::new(NoAuth)
    };
    let contacts = crate::contacts::ContactCenter::new(
        service.clone(),
        Duration::from_secs_f64(config.sessions.ended_ttl_seconds),
    );
    let state = AppState {
        config: Arc::new(config.clone()),
        service: service.clone(),
        contacts,
        auth,
        metrics: Arc::new(Metrics::default()),
        max_body_bytes: config.server.max_body_bytes,
        throttle: Arc::new(crate::throttle::Throttle::new(&config.throttling)),
        streams: crate::stream::new_hub(&config, &service),
    };
    // AudioSocket and SIPREC listeners, when configured (docs/TELEPHONY.md).
    let telephony = crate::stream::telephony::start(&crate::stream::StreamState {
        app: state.clone(),
        hub: Arc::clone(&state.streams),
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Server)?;
    if data.first_start {
        print!("{}", first_start_help(&config, addr));
    }
    // The line tests and scripts parse to find the port.
    println!("voiceprint listening on http://{addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, data_dir = %config.server.data_dir.display(), auth = config.auth.enabled, "serving");

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
    let app = crate::app::router(state);
    let task = tokio::spawn(async move {
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            tokio::select! {
                _ = rx => {}
                _ = shutdown_signal() => {}
            }
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = drained_tx.send(());
        };
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown);
        let serving = tokio::spawn(async move { server.await });
        // Bound the drain: after the grace period, stop waiting for slow clients.
        let _ = drained_rx.await;
        match tokio::time::timeout(grace, serving).await {
            Ok(Ok(result)) => result.map_err(ServeError::Server),
            Ok(Err(e)) => Err(ServeError::Server(std::io::Error::other(e))),
            Err(_) => {
                tracing::warn!("grace period over; closing remaining connections");
                Ok(())
            }
        }
    });
    Ok(RunningServer {
        addr,
        service,
        access_key_id: data.access_key_id,
        secret_access_key: data.secret_access_key,
        telephony,
        shutdown: Some(tx),
        task,
    })
}

/// Background retraining of voiceprints that gained or lost a training segment
/// (docs/ENGINE-CONDITIONS.md): a cheap check every two seconds, work only when a
/// segment was added here or a previous process left some.
fn spawn_voiceprint_retraining(service: Arc<VoiceIdService>) {
    let weak = Arc::downgrade(&service);
    drop(service);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let Some(service) = weak.upgrade() else {
                return;
            };
            match tokio::task::spawn_blocking(move || service.retrain_pending_voiceprints()).await {
                Ok(Ok(0)) | Err(_) => {}
                Ok(Ok(retrained)) => tracing::info!(retrained, "voiceprints retrained"),
                Ok(Err(e)) => tracing::warn!(error = %e, "voiceprint retraining failed"),
            }
        }
    });
}

/// `[jobs]` as `voiceprint-jobs` takes it (batch jobs, issue 6).
fn batch_jobs_config(config: &Config) -> voiceprint_jobs::JobsConfig {
    let jobs = &config.jobs;
    let set = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    voiceprint_jobs::JobsConfig {
        paused: jobs.paused,
        workers: jobs.workers,
        min_speech_seconds: jobs.min_speech_seconds,
        max_audio_bytes: jobs.max_audio_bytes,
        max_manifest_bytes: jobs.max_manifest_bytes,
        file_root: (!jobs.file_root.as_os_str().is_empty()).then(|| jobs.file_root.clone()),
        default_fraudster_similarity_threshold: jobs.default_fraudster_similarity_threshold,
        s3: voiceprint_jobs::S3Config {
            endpoint: set(&jobs.s3_endpoint),
            region: jobs.s3_region.clone(),
            access_key_id: set(&jobs.s3_access_key_id),
            secret_access_key: set(&jobs.s3_secret_access_key),
            allow_http: jobs.s3_allow_http,
            virtual_hosted_style: false,
        },
        node_id: if jobs.node_id.is_empty() {
            default_node_id(config)
        } else {
            jobs.node_id.clone()
        },
        lease_seconds: jobs.lease_seconds,
    }
}

/// A node's default name in job leases: host, listen address and data directory,
/// stable across restarts and distinct for nodes sharing a database (give
/// `jobs.node_id` when they would collide, e.g. several nodes listening on port 0).
fn default_node_id(config: &Config) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!(
        "{host}/{}/{}",
        config.server.listen,
        config.server.data_dir.display()
    )
}

/// Loads the speaker model named by `[engine]` on a blocking thread. Missing
/// weights stop the start only when `engine.required`; otherwise the control plane
/// runs and biometric operations say the model is not loaded.
async fn load_biometrics(config: &Config) -> Result<Option<Arc<Biometrics>>, ServeError> {
    let engine = config.engine.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        Biometrics::load_with_scoring(&engine.models_dir, &engine.model, &engine.scoring_options(), engine.workers)
    })
    .await
    .map_err(|e| ServeError::Server(std::io::Error::other(e)))?;
    match loaded {
        Ok(biometrics) => {
            tracing::info!(
                model = biometrics.model_id(),
                workers = biometrics.workers(),
                "speaker model loaded"
            );
            Ok(Some(Arc::new(biometrics)))
        }
        Err(e) if config.engine.required => Err(ServeError::Config(format!(
            "engine.required is set and the speaker model did not load: {e}"
        ))),
        Err(e) => {
            tracing::warn!(error = %e, models_dir = %config.engine.models_dir.display(),
                "speaker model not loaded; sessions and jobs will fail until it is (run scripts/fetch-models.sh)");
            Ok(None)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VOICEPRINT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    // The CLI may have installed a subscriber already; keep it then.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

/// Run the server until SIGTERM/Ctrl-C (the body of `voiceprint serve`).
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let config = args.load_config()?;
    if args.print_config {
        println!("{config:#?}");
        return Ok(());
    }
    init_tracing(&config);
    let server = start(config).await?;
    let RunningServer { task, shutdown, .. } = server;
    // Keep the sender alive: only signals stop this server.
    let _keep = shutdown;
    task.await
        .map_err(|e| ServeError::Server(std::io::Error::other(e)))?
}

/// Blocking entry point for synchronous callers (the CLI).
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Server)?
        .block_on(serve(args))
}

/// `admin seed-speakers`: bulk-store ENROLLED speakers with synthetic voiceprints
/// (benchmarks, demos). Writes straight to the store of a data directory.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// TOML file layered over the built-in defaults.
    #[arg(long, env = "VOICEPRINT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory of the server.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Domain to fill; a new domain is created when omitted.
    #[arg(long, value_name = "DOMAIN_ID")]
    pub domain: Option<String>,
    /// How many speakers to add (CustomerSpeakerIds `seed-<n>`).
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Speakers per atomic write batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
}

/// Seed speakers; prints `seeded N speakers into domain ID`.
pub fn seed_speakers(args: SeedArgs) -> Result<String, ServeError> {
    let config = Config::load(
        args.config.as_deref(),
        std::env::vars(),
        &FlagOverrides {
            listen: None,
            data_dir: args.data_dir.clone(),
            ..Default::default()
        },
    )?;
    let data = open_data_dir(&config)?;
    let service = VoiceIdService::new(data.store.clone(), config.service_config(), &data.token_key);
    let domain_id = match args.domain {
        Some(d) => d,
        None => {
            service
                .create_domain(voiceprint_voiceid::types::CreateDomainRequest {
                    client_token: None,
                    description: None,
                    name: "seeded".into(),
                    server_side_encryption_configuration:
                        voiceprint_voiceid::types::ServerSideEncryptionConfiguration {
                            kms_key_id: "default".into(),
                        },
                    tags: None,
                })?
                .domain
                .domain_id
        }
    };
    let existing = data
        .store
        .count(voiceprint_store::Kind::Speaker, &domain_id)? as usize;
    let batch = args.batch.max(1);
    let mut done = 0;
    while done < args.count {
        let n = batch.min(args.count - done);
        let speakers = (0..n)
            .map(|i| {
                let k = existing + done + i;
                // Synthetic 192-dim f32 "voiceprint": benchmarks need bytes of the
                // right size, not a real embedding.
                let bytes: Vec<u8> = (0..192u32)
                    .flat_map(|j| ((k as u32 ^ j) as f32).to_le_bytes())
                    .collect();
                (format!("seed-{k:07}"), bytes)
            })
            .collect();
        service.admin_put_speakers(&domain_id, speakers, None)?;
        done += n;
    }
    println!("seeded {done} speakers into domain {domain_id}");
    Ok(domain_id)
}
