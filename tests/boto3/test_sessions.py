"""Session extension operations through boto3 (issue 8), with the merged model
(conftest `extension_client`). Audio streaming is covered by
crates/server/tests/sessions.rs.
"""

import pytest


def test_session_lifecycle_through_boto3(extension_client, domain):
    c = extension_client
    d = domain["DomainId"]
    started = c.start_session(DomainId=d, SessionName="contact-0001", SpeakerId="caller-1",
                              StreamingConfiguration={"AuthenticationMinimumSpeechInSeconds": 5})
    s = started["Session"]
    assert s["StreamingStatus"] == "PENDING_CONFIGURATION"
    assert s["SessionId"].startswith("id#") and s["SessionName"] == "contact-0001"
    assert s["StreamingConfiguration"]["AuthenticationMinimumSpeechInSeconds"] == 5
    assert s["AuthenticationConfiguration"]["AcceptanceThreshold"] == 90
    assert len(started["StreamToken"]) > 20

    described = c.describe_session(DomainId=d, SessionNameOrId=s["SessionId"])["Session"]
    assert described["SessionName"] == "contact-0001"

    ev = c.evaluate_session(DomainId=d, SessionNameOrId="contact-0001")
    assert ev["StreamingStatus"] == "PENDING_CONFIGURATION"
    assert ev["AuthenticationResult"]["Decision"] == "SPEAKER_NOT_ENROLLED"
    assert ev["FraudDetectionResult"]["Decision"] == "NOT_ENOUGH_SPEECH"
    # Cached until something changes; a threshold change makes a new result.
    again = c.evaluate_session(DomainId=d, SessionNameOrId="contact-0001")
    assert again["AuthenticationResult"]["AuthenticationResultId"] == \
        ev["AuthenticationResult"]["AuthenticationResultId"]
    c.update_session(DomainId=d, SessionNameOrId="contact-0001",
                     AuthenticationConfiguration={"AcceptanceThreshold": 95})
    changed = c.evaluate_session(DomainId=d, SessionNameOrId="contact-0001")
    assert changed["AuthenticationResult"]["AuthenticationResultId"] != \
        ev["AuthenticationResult"]["AuthenticationResultId"]
    assert changed["AuthenticationResult"]["Configuration"]["AcceptanceThreshold"] == 95

    # Enrollment waits for speech; then the speaker is fixed.
    enroll = c.enroll_by_session(DomainId=d, SessionNameOrId="contact-0001")
    assert enroll["Status"] == "IN_PROGRESS"
    with pytest.raises(c.exceptions.ConflictException) as e:
        c.update_session(DomainId=d, SessionNameOrId="contact-0001", SpeakerId="someone-else")
    assert e.value.response["ConflictType"] == "CANNOT_CHANGE_SPEAKER_AFTER_ENROLLMENT"
    with pytest.raises(c.exceptions.ConflictException):
        c.start_session(DomainId=d, SessionName="contact-0001")

    ended = c.end_session(DomainId=d, SessionNameOrId="contact-0001")["Session"]
    assert ended["StreamingStatus"] == "ENDED"
    assert ended["EnrollmentRequestDetails"]["Status"] == "NOT_ENOUGH_SPEECH"
    assert ended["ExpiresAt"] > ended["UpdatedAt"]
    # The name is free again once the session ended.
    fresh = c.start_session(DomainId=d, SessionName="contact-0001")["Session"]
    assert fresh["SessionId"] != s["SessionId"]

    with pytest.raises(c.exceptions.ValidationException):
        c.register_fraudster_by_session(DomainId=d, SessionNameOrId="contact-0001")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.describe_session(DomainId=d, SessionNameOrId="no-such-contact")
