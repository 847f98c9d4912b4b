"""Contact extension operations (StartContact, DescribeContact, AgentAction) through
boto3 with voiceprint's extension model (issue 4). The shared test server has no
streamed audio here, so these are the paths that need none: a chat contact takes
the Set Voice ID Error branch, a voice contact without speech is NotEnrolled, the
agent's getSpeakerId/getSpeakerStatus answer with Streams' error types, and
broken flows are refused naming the action. Real-speech flows: crates/server/tests/contacts.rs.
"""

import json
import tempfile
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "crates" / "server" / "model"
SAMPLE = (REPO / "crates" / "flows" / "tests" / "flows" / "voice-id-sample.json").read_text()


def _merged_model():
    base = json.loads((MODEL_DIR / "voice-id-service-2.json").read_text())
    for ext in ("voiceprint-sessions.json", "voiceprint-contacts.json"):
        more = json.loads((MODEL_DIR / ext).read_text())
        base["operations"].update(more["operations"])
        base["shapes"].update(more["shapes"])
    return base


@pytest.fixture(scope="module")
def contacts_client(server):
    data = Path(tempfile.mkdtemp(prefix="voiceprint-model-"))
    target = data / "voice-id" / "2021-09-27"
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(_merged_model()))
    core = botocore.session.Session()
    core.get_component("data_loader").search_paths.insert(0, str(data))
    return boto3.session.Session(botocore_session=core).client(
        "voice-id",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def branches(contact, identifier):
    return [s["Branch"] for s in contact["Trace"] if s["Identifier"] == identifier]


def test_chat_contacts_take_the_error_branch(contacts_client, domain):
    c = contacts_client
    contact = c.start_contact(DomainId=domain["DomainId"], ContactId="chat-0001", Channel="CHAT",
                              FlowJson=SAMPLE, Attributes={"AccountNumber": "1001"})["Contact"]
    assert contact["Status"] == "ENDED"
    assert contact["Attributes"]["VoiceIdOutcome"] == "Error"
    assert branches(contact, "set-voice-id") == ["Error:NoMatchingError"]
    described = c.describe_contact(DomainId=domain["DomainId"], ContactId="chat-0001")["Contact"]
    assert described["Trace"] == contact["Trace"]


def test_first_voice_call_is_not_enrolled_and_agent_actions_answer(contacts_client, domain):
    c = contacts_client
    d = domain["DomainId"]
    contact = c.start_contact(DomainId=d, ContactId="voice-0001", FlowJson=SAMPLE,
                              Attributes={"AccountNumber": "1001"})["Contact"]
    assert contact["Attributes"]["VoiceIdOutcome"] == "NotEnrolled"
    assert contact["CustomerId"] == "1001"
    got = c.agent_action(DomainId=d, ContactId="voice-0001", Action="getSpeakerId")
    assert got["Status"] == "SUCCEEDED" and got["SpeakerId"] == "1001"
    status = c.agent_action(DomainId=d, ContactId="voice-0001", Action="getSpeakerStatus")
    assert status["ErrorType"] == "speaker_id_not_enrolled"
    evaluated = c.agent_action(DomainId=d, ContactId="voice-0001", Action="evaluateSpeaker")
    assert evaluated["AuthenticationDecision"] == "NotEnrolled"
    assert evaluated["FraudDetectionDecision"] == "Inconclusive"


def test_broken_flows_and_unknown_contacts_are_errors(contacts_client, domain):
    c = contacts_client
    d = domain["DomainId"]
    broken = SAMPLE.replace('"Type": "StartVoiceIdStream"', '"Type": "InvokeLambdaFunction"')
    with pytest.raises(c.exceptions.ValidationException) as e:
        c.start_contact(DomainId=d, FlowJson=broken)
    assert "start-stream" in str(e.value)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.describe_contact(DomainId=d, ContactId="never-started")
    with pytest.raises(c.exceptions.ValidationException):
        c.agent_action(DomainId=d, ContactId="voice-0001", Action="dance")
