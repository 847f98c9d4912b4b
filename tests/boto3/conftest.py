"""Harness of the boto3 conformance suite: start the real voiceprint binary on a
fresh data directory and hand tests a boto3 `voice-id` client pointed at it.

The binary is $VOICEPRINT_BIN, else target/debug/voiceprint (either
`voiceprint` or `voiceprint-server`: both take `serve` and
`admin seed-speakers`). The suite skips, saying why, when it is missing.
Speakers cannot be created through the API yet (enrollment jobs and sessions
do not process audio), so 23 ENROLLED speakers are seeded with
`admin seed-speakers` before the server starts.
"""

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
SEEDED_SPEAKERS = 23


def _binary():
    path = os.environ.get("VOICEPRINT_BIN") or str(REPO / "target" / "debug" / "voiceprint")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


class Server:
    """A running server process and what a client needs to reach it."""

    def __init__(self, binary):
        self.data_dir = tempfile.mkdtemp(prefix="voiceprint-boto3-")
        # Seed before serving so only one process ever opens the store at a time.
        seeded = subprocess.run(
            [binary, "admin", "seed-speakers", "--data-dir", self.data_dir,
             "--count", str(SEEDED_SPEAKERS), "--batch", "10"],
            capture_output=True, text=True, timeout=120,
        )
        assert seeded.returncode == 0, f"seed-speakers failed: {seeded.stderr}"
        m = re.search(r"into domain ([A-Za-z0-9]{22})", seeded.stdout)
        assert m, f"seed-speakers printed no domain id: {seeded.stdout!r}"
        self.seeded_domain = m.group(1)

        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # The shared server only stores jobs (the job tests here expect them to
            # stay SUBMITTED); test_jobs.py starts its own server that runs them.
            env=dict(os.environ, VOICEPRINT__JOBS__PAUSED="true"),
        )
        self.output = []
        self.endpoint = None
        # serve prints "voiceprint listening on http://ADDR" once bound.
        for line in self.proc.stdout:
            self.output.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.endpoint = m.group(1)
                break
        if self.endpoint is None:
            err = self.proc.stderr.read()
            raise RuntimeError(f"server did not start: {''.join(self.output)}{err}")
        # Keep draining the pipes so the server never blocks on a full one.
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()

        creds = configparser.ConfigParser()
        creds.read(Path(self.data_dir) / "credentials")
        self.access_key_id = creds["voiceprint"]["aws_access_key_id"]
        self.secret_access_key = creds["voiceprint"]["aws_secret_access_key"]

    def client(self, access_key_id=None, secret_access_key=None):
        # boto3's service name is "voice-id"; its SigV4 signing name is "voiceid".
        return boto3.client(
            "voice-id",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key_id or self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    binary = _binary()
    if binary is None:
        pytest.skip(
            "voiceprint binary not found: build it (cargo build -p voiceprint) "
            "or set VOICEPRINT_BIN", allow_module_level=True)
    s = Server(binary)
    yield s
    s.stop()


_CALLED = set()


@pytest.fixture(scope="session")
def called_operations():
    """Names of the operations the session's client has sent (see voiceid)."""
    return _CALLED


@pytest.fixture(scope="session")
def voiceid(server):
    client = server.client()
    client.meta.events.register(
        "before-call.voice-id", lambda model, **_: _CALLED.add(model.name))
    return client


@pytest.fixture()
def domain(voiceid):
    """A fresh domain, deleted afterwards."""
    d = voiceid.create_domain(
        Name="test-domain", ServerSideEncryptionConfiguration={"KmsKeyId": "default"}
    )["Domain"]
    yield d
    try:
        voiceid.delete_domain(DomainId=d["DomainId"])
    except voiceid.exceptions.ResourceNotFoundException:
        pass


MODEL_DIR = REPO / "crates" / "server" / "model"


def _merged_model():
    """The Voice ID model plus voiceprint's extension operations (sessions, contacts,
    agent tokens)."""
    base = json.loads((MODEL_DIR / "voice-id-service-2.json").read_text())
    for ext in ("voiceprint-sessions.json", "voiceprint-contacts.json", "voiceprint-agent.json", "voiceprint-voiceprints.json"):
        more = json.loads((MODEL_DIR / ext).read_text())
        base["operations"].update(more["operations"])
        base["shapes"].update(more["shapes"])
    return base


@pytest.fixture(scope="session")
def extension_client(server):
    """boto3 knows only the public Voice ID model: this client loads it merged with
    voiceprint's extension shapes from a private botocore data path, so StartSession,
    StartContact & co. are ordinary, SigV4-signed boto3 calls."""
    data = Path(tempfile.mkdtemp(prefix="voiceprint-model-"))
    target = data / "voice-id" / "2021-09-27"
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(_merged_model()))
    core = botocore.session.Session()
    core.get_component("data_loader").search_paths.insert(0, str(data))
    return boto3.session.Session(botocore_session=core).client(
        "voice-id",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
