"""Contact extension operations (StartContact, DescribeContact, AgentAction) through
boto3 with voiceprint's extension model (issue 4). The shared test server has no
streamed audio here, so these are the paths that need none: a chat contact takes
the Set Voice ID Error branch, a voice contact without speech is NotEnrolled, the
agent's getSpeakerId/getSpeakerStatus answer with Streams' error types, and
broken flows are refused naming the action. Real-speech flows: crates/server/tests/contacts.rs.
"""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = (REPO / "crates" / "flows" / "tests" / "flows" / "voice-id-sample.json").read_text()


def branches(contact, identifier):
    return [s["Branch"] for s in contact["Trace"] if s["Identifier"] == identifier]


def test_chat_contacts_take_the_error_branch(extension_client, domain):
    c = extension_client
    contact = c.start_contact(DomainId=domain["DomainId"], ContactId="chat-0001", Channel="CHAT",
                              FlowJson=SAMPLE, Attributes={"AccountNumber": "1001"})["Contact"]
    assert contact["Status"] == "ENDED"
    assert contact["Attributes"]["VoiceIdOutcome"] == "Error"
    assert branches(contact, "set-voice-id") == ["Error:NoMatchingError"]
    described = c.describe_contact(DomainId=domain["DomainId"], ContactId="chat-0001")["Contact"]
    assert described["Trace"] == contact["Trace"]


def test_first_voice_call_is_not_enrolled_and_agent_actions_answer(extension_client, domain):
    c = extension_client
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


def test_broken_flows_and_unknown_contacts_are_errors(extension_client, domain):
    c = extension_client
    d = domain["DomainId"]
    broken = SAMPLE.replace('"Type": "StartVoiceIdStream"', '"Type": "InvokeLambdaFunction"')
    with pytest.raises(c.exceptions.ValidationException) as e:
        c.start_contact(DomainId=d, FlowJson=broken)
    assert "start-stream" in str(e.value)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.describe_contact(DomainId=d, ContactId="never-started")
    with pytest.raises(c.exceptions.ValidationException):
        c.agent_action(DomainId=d, ContactId="voice-0001", Action="dance")
