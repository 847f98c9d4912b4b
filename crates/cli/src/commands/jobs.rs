//! `voiceprint jobs start|describe|watch`: batch enrollment and fraudster
//! registration jobs on a running server, over the Voice ID API (SigV4-signed
//! awsJson1_0, the same requests boto3 sends).
//!
//! What it does not do: run jobs itself (the server does) or speak TLS (plain
//! `http://` to the server or a local proxy; the server has no TLS either).

use std::time::Duration;

use serde_json::{json, Value};

use super::api::Client;
pub use super::api::Connection;

use crate::error::CliError;

/// Which job API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// StartSpeakerEnrollmentJob / DescribeSpeakerEnrollmentJob.
    Enrollment,
    /// StartFraudsterRegistrationJob / DescribeFraudsterRegistrationJob.
    Registration,
}

impl Kind {
    fn describe_op(self) -> &'static str {
        match self {
            Kind::Enrollment => "DescribeSpeakerEnrollmentJob",
            Kind::Registration => "DescribeFraudsterRegistrationJob",
        }
    }
}

/// Batch jobs on a running server.
#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Start a job; prints the job as JSON (with --watch, follows it to the end).
    Start(StartArgs),
    /// Print a job as JSON.
    Describe(JobArgs),
    /// Follow a job with a progress bar until it ends; exit status 1 if it FAILED.
    Watch(WatchArgs),
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long, value_enum)]
    pub kind: Kind,
    #[arg(long)]
    pub domain_id: String,
    /// Input manifest URI (s3://bucket/key or file:///path).
    #[arg(long)]
    pub input: String,
    /// Output location; the server writes <output>/<jobId>/<input-name>.out.
    #[arg(long)]
    pub output: String,
    #[arg(long, default_value = "arn:aws:iam::000000000000:role/voiceprint-jobs")]
    pub data_access_role_arn: String,
    #[arg(long)]
    pub job_name: Option<String>,
    /// Enrollment: SKIP or OVERWRITE an existing enrollment.
    #[arg(long)]
    pub existing_enrollment_action: Option<String>,
    /// Enrollment: FAIL (do not enroll known fraudsters) or IGNORE.
    #[arg(long)]
    pub fraud_detection_action: Option<String>,
    /// Enrollment: risk score (0–100) at which the fraud check fails.
    #[arg(long)]
    pub risk_threshold: Option<u8>,
    /// Registration: SKIP or REGISTER_AS_NEW near-duplicate fraudsters.
    #[arg(long)]
    pub duplicate_registration_action: Option<String>,
    /// Registration: similarity (0–100) at which a fraudster counts as a duplicate.
    #[arg(long)]
    pub fraudster_similarity_threshold: Option<u8>,
    /// Watchlist to check (enrollment) or register into (registration).
    #[arg(long)]
    pub watchlist_id: Option<String>,
    /// Follow the job with a progress bar until it ends.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long, value_enum)]
    pub kind: Kind,
    #[arg(long)]
    pub domain_id: String,
    #[arg(long)]
    pub job_id: String,
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Polling interval in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
}

pub fn run(cmd: JobsCommand) -> Result<(), CliError> {
    match cmd {
        JobsCommand::Start(args) => start(args),
        JobsCommand::Describe(args) => {
            let client = Client::new(&args.connection)?;
            let job = describe(&client, args.kind, &args.domain_id, &args.job_id)?;
            println!("{}", serde_json::to_string_pretty(&job).unwrap_or_default());
            Ok(())
        }
        JobsCommand::Watch(args) => {
            let client = Client::new(&args.job.connection)?;
            watch(
                &client,
                args.job.kind,
                &args.job.domain_id,
                &args.job.job_id,
                Duration::from_millis(args.interval_ms.max(50)),
            )
        }
    }
}

/// The request body of `Start*Job` for these arguments.
pub fn start_request(args: &StartArgs) -> Value {
    let mut req = json!({
        "DomainId": args.domain_id,
        "DataAccessRoleArn": args.data_access_role_arn,
        "InputDataConfig": {"S3Uri": args.input},
        "OutputDataConfig": {"S3Uri": args.output},
    });
    if let Some(n) = &args.job_name {
        req["JobName"] = json!(n);
    }
    let watchlists = args.watchlist_id.as_ref().map(|w| json!([w]));
    match args.kind {
        Kind::Enrollment => {
            let mut fraud = json!({});
            if let Some(a) = &args.fraud_detection_action {
                fraud["FraudDetectionAction"] = json!(a);
            }
            if let Some(t) = args.risk_threshold {
                fraud["RiskThreshold"] = json!(t);
            }
            if let Some(w) = watchlists {
                fraud["WatchlistIds"] = w;
            }
            let mut config = json!({"FraudDetectionConfig": fraud});
            if let Some(a) = &args.existing_enrollment_action {
                config["ExistingEnrollmentAction"] = json!(a);
            }
            req["EnrollmentConfig"] = config;
        }
        Kind::Registration => {
            let mut config = json!({});
            if let Some(a) = &args.duplicate_registration_action {
                config["DuplicateRegistrationAction"] = json!(a);
            }
            if let Some(t) = args.fraudster_similarity_threshold {
                config["FraudsterSimilarityThreshold"] = json!(t);
            }
            if let Some(w) = watchlists {
                config["WatchlistIds"] = w;
            }
            req["RegistrationConfig"] = config;
        }
    }
    req
}

fn start(args: StartArgs) -> Result<(), CliError> {
    let client = Client::new(&args.connection)?;
    let op = match args.kind {
        Kind::Enrollment => "StartSpeakerEnrollmentJob",
        Kind::Registration => "StartFraudsterRegistrationJob",
    };
    let job = client.call(op, &start_request(&args))?["Job"].take();
    println!("{}", serde_json::to_string_pretty(&job).unwrap_or_default());
    if args.watch {
        let job_id = job["JobId"].as_str().unwrap_or_default().to_owned();
        watch(
            &client,
            args.kind,
            &args.domain_id,
            &job_id,
            Duration::from_secs(1),
        )?;
    }
    Ok(())
}

fn describe(client: &Client, kind: Kind, domain_id: &str, job_id: &str) -> Result<Value, CliError> {
    Ok(client.call(
        kind.describe_op(),
        &json!({"DomainId": domain_id, "JobId": job_id}),
    )?["Job"]
        .take())
}

fn watch(
    client: &Client,
    kind: Kind,
    domain_id: &str,
    job_id: &str,
    interval: Duration,
) -> Result<(), CliError> {
    let bar = super::progress(100, &format!("job {job_id}"));
    loop {
        let job = describe(client, kind, domain_id, job_id)?;
        let status = job["JobStatus"].as_str().unwrap_or("?").to_owned();
        let percent = job["JobProgress"]["PercentComplete"].as_u64().unwrap_or(0);
        bar.set_position(percent);
        bar.set_message(format!("job {job_id} {status}"));
        match status.as_str() {
            "SUBMITTED" | "IN_PROGRESS" => std::thread::sleep(interval),
            "FAILED" => {
                bar.abandon();
                let details = &job["FailureDetails"];
                return Err(CliError::Failed(format!(
                    "job {job_id} FAILED ({}): {}",
                    details["StatusCode"],
                    details["Message"].as_str().unwrap_or("")
                )));
            }
            _ => {
                bar.finish();
                eprintln!("job {job_id}: {status}");
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_requests_carry_only_the_given_options() {
        let args = StartArgs {
            connection: Connection {
                endpoint: "http://x".into(),
                region: "us-east-1".into(),
                access_key_id: None,
                secret_access_key: None,
                data_dir: None,
            },
            kind: Kind::Registration,
            domain_id: "D".into(),
            input: "s3://b/m.json".into(),
            output: "s3://b/out".into(),
            data_access_role_arn: "arn:aws:iam::000000000000:role/r".into(),
            job_name: None,
            existing_enrollment_action: Some("OVERWRITE".into()),
            fraud_detection_action: None,
            risk_threshold: None,
            duplicate_registration_action: Some("REGISTER_AS_NEW".into()),
            fraudster_similarity_threshold: Some(80),
            watchlist_id: Some("W".into()),
            watch: false,
        };
        let req = start_request(&args);
        assert_eq!(
            req["RegistrationConfig"],
            json!({"DuplicateRegistrationAction":"REGISTER_AS_NEW","FraudsterSimilarityThreshold":80,"WatchlistIds":["W"]})
        );
        assert!(req.get("EnrollmentConfig").is_none());
        assert!(req.get("JobName").is_none());
    }
}
