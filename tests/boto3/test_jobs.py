"""Batch jobs through boto3 against the real binary, with audio and manifests in a
real S3-compatible store (moto's server, in-process) the server reads and writes.

Skips, saying why, when moto, espeak-ng/sox, the CAM++ weights or the binary are
missing (scripts/test.sh installs moto[server] into the test venv).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/voiceid-jobs"
# Two callers and a fraudster that CAM++ keeps far apart (crates/jobs/tests
# voices_are_separable measures the same espeak-ng voices).
VOICES = [("en-gb+f2", 70, 160), ("en-gb-scotland+f4", 85, 170), ("es+m1", 55, 150)]
TEXT = ("The quick brown fox jumps over the lazy dog while the farmer counts his sheep "
        "near the old stone bridge, and the river keeps running towards the distant sea.")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _speak(voice, out):
    name, pitch, speed = voice
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", name, "-p", str(pitch), "-s", str(speed), "-w", str(raw), TEXT],
                   check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out)],
                   check=True)


@pytest.fixture(scope="module")
def stack():
    moto_server = pytest.importorskip("moto.server", reason="moto[server] not installed")
    binary = os.environ.get("VOICEPRINT_BIN") or str(REPO / "target" / "debug" / "voiceprint")
    if not os.path.isfile(binary):
        pytest.skip("voiceprint binary not found (cargo build -p voiceprint or set VOICEPRINT_BIN)")
    models = Path(os.environ.get("VOICEPRINT_MODELS_DIR", REPO / "models"))
    if not (models / "campplus" / "campplus_cn_en_common.pt").is_file():
        pytest.skip("CAM++ weights missing (scripts/fetch-models.sh)")
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to generate test speech")

    port = _free_port()
    moto = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    s3_endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="calls")

    tmp = Path(tempfile.mkdtemp(prefix="voiceprint-jobs-"))
    for i, voice in enumerate(VOICES):
        wav = tmp / f"voice{i}.wav"
        _speak(voice, wav)
        s3.upload_file(str(wav), "calls", f"audio/voice{i}.wav")

    env = dict(os.environ,
               VOICEPRINT__ENGINE__MODELS_DIR=str(models),
               VOICEPRINT__JOBS__S3_ENDPOINT=s3_endpoint,
               VOICEPRINT__JOBS__S3_ALLOW_HTTP="true",
               VOICEPRINT__JOBS__S3_ACCESS_KEY_ID="testing",
               VOICEPRINT__JOBS__S3_SECRET_ACCESS_KEY="testing",
               VOICEPRINT__JOBS__MIN_SPEECH_SECONDS="4",
               # scripts/test.sh pauses jobs for the suite's shared server; not here.
               VOICEPRINT__JOBS__PAUSED="false")
    data_dir = tmp / "data"
    proc = subprocess.Popen([binary, "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    endpoint = None
    for line in proc.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            endpoint = m.group(1)
            break
    assert endpoint, f"server did not start: {proc.stderr.read()}"
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=lambda st=stream: [None for _ in st], daemon=True).start()
    creds = (data_dir / "credentials").read_text()
    key = re.search(r"aws_access_key_id\s*=\s*(\S+)", creds).group(1)
    secret = re.search(r"aws_secret_access_key\s*=\s*(\S+)", creds).group(1)
    voiceid = boto3.client("voice-id", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=key, aws_secret_access_key=secret,
                           config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    yield voiceid, s3
    proc.terminate()
    proc.wait(timeout=30)
    moto.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def _wait(describe, **kw):
    for _ in range(600):
        job = describe(**kw)["Job"]
        if job["JobStatus"] not in ("SUBMITTED", "IN_PROGRESS"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job did not finish: {job}")


def _output(s3, job, manifest_key):
    key = f"out/{job['JobId']}/{manifest_key.rsplit('/', 1)[-1]}.out"
    return json.loads(s3.get_object(Bucket="calls", Key=key)["Body"].read())


def test_enrollment_and_registration_jobs_over_s3(stack):
    voiceid, s3 = stack
    dom = voiceid.create_domain(Name="jobs", ServerSideEncryptionConfiguration={"KmsKeyId": "default"})["Domain"]
    dom_id = dom["DomainId"]

    # Fraudster: voice 2.
    s3.put_object(Bucket="calls", Key="manifests/fraud.json", Body=json.dumps({
        "Version": "1.0", "FraudsterRegistrationRequests": [
            {"RequestId": "f1", "AudioSpecifications": [{"S3Uri": "s3://calls/audio/voice2.wav", "ChannelId": 0}]},
            {"RequestId": "f2", "AudioSpecifications": [{"S3Uri": "s3://calls/audio/voice2.wav", "ChannelId": 0}]},
        ]}))
    job = voiceid.start_fraudster_registration_job(
        DomainId=dom_id, DataAccessRoleArn=ROLE, JobName="fraud",
        InputDataConfig={"S3Uri": "s3://calls/manifests/fraud.json"},
        OutputDataConfig={"S3Uri": "s3://calls/out"})["Job"]
    assert job["JobStatus"] == "SUBMITTED"
    job = _wait(voiceid.describe_fraudster_registration_job, DomainId=dom_id, JobId=job["JobId"])
    assert (job["JobStatus"], job["JobProgress"]["PercentComplete"]) == ("COMPLETED", 100)
    out = _output(s3, job, "manifests/fraud.json")
    regs = {r["RequestId"]: r for r in out["SuccessfulRegistrations"]}
    assert regs["f1"]["RegistrationStatus"] == "NEW_REGISTRATION"
    assert regs["f2"]["RegistrationStatus"] == "DUPLICATE_SKIPPED"
    assert regs["f2"]["GeneratedFraudsterId"] == regs["f1"]["GeneratedFraudsterId"]

    # Speakers: voice 0 and 1 enroll; voice 2 is the fraudster; one file is missing.
    s3.put_object(Bucket="calls", Key="manifests/enroll.json", Body=json.dumps({
        "Version": "1.0", "SpeakerEnrollmentRequests": [
            {"RequestId": f"r{i}", "SpeakerId": f"caller-{i}",
             "AudioSpecifications": [{"S3Uri": f"s3://calls/audio/{name}", "ChannelId": 0}]}
            for i, name in enumerate(["voice0.wav", "voice1.wav", "voice2.wav", "nope.wav"])]}))
    job = voiceid.start_speaker_enrollment_job(
        DomainId=dom_id, DataAccessRoleArn=ROLE,
        EnrollmentConfig={"ExistingEnrollmentAction": "SKIP",
                          "FraudDetectionConfig": {"FraudDetectionAction": "FAIL", "RiskThreshold": 50}},
        InputDataConfig={"S3Uri": "s3://calls/manifests/enroll.json"},
        OutputDataConfig={"S3Uri": "s3://calls/out/"})["Job"]
    job = _wait(voiceid.describe_speaker_enrollment_job, DomainId=dom_id, JobId=job["JobId"])
    assert job["JobStatus"] == "COMPLETED_WITH_ERRORS"
    assert "FailureDetails" not in job
    out = _output(s3, job, "manifests/enroll.json")
    ok = {e["RequestId"]: e for e in out["SuccessfulEnrollments"]}
    errors = {e["RequestId"]: e for e in out["Errors"]}
    assert set(ok) == {"r0", "r1"} and set(errors) == {"r2", "r3"}, out
    assert ok["r0"]["EnrollmentStatus"] == "NEW_ENROLLMENT"
    assert ok["r0"]["CustomerSpeakerId"] == "caller-0"
    assert errors["r2"]["ErrorCode"] == 400 and "fraudster" in errors["r2"]["ErrorMessage"]
    assert errors["r3"]["ErrorCode"] == 400 and "does not exist" in errors["r3"]["ErrorMessage"]
    speaker = voiceid.describe_speaker(DomainId=dom_id, SpeakerId="caller-0")["Speaker"]
    assert speaker["Status"] == "ENROLLED"
    assert speaker["GeneratedSpeakerId"] == ok["r0"]["GeneratedSpeakerId"]
    listed = voiceid.list_speaker_enrollment_jobs(DomainId=dom_id, JobStatus="COMPLETED_WITH_ERRORS")
    assert [j["JobId"] for j in listed["JobSummaries"]] == [job["JobId"]]


def test_unreadable_manifest_fails_the_job(stack):
    voiceid, _ = stack
    dom_id = voiceid.create_domain(Name="jobs-fail",
                                   ServerSideEncryptionConfiguration={"KmsKeyId": "default"})["Domain"]["DomainId"]
    job = voiceid.start_speaker_enrollment_job(
        DomainId=dom_id, DataAccessRoleArn=ROLE,
        InputDataConfig={"S3Uri": "s3://calls/manifests/absent.json"},
        OutputDataConfig={"S3Uri": "s3://calls/out"})["Job"]
    job = _wait(voiceid.describe_speaker_enrollment_job, DomainId=dom_id, JobId=job["JobId"])
    assert job["JobStatus"] == "FAILED"
    assert job["FailureDetails"]["StatusCode"] == 400
    assert "does not exist" in job["FailureDetails"]["Message"]
