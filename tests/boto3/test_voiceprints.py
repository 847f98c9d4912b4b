"""Engine settings and voiceprint lifecycle operations through boto3 (issue 5), with
the merged model (conftest `extension_client`). Training from real streamed audio is
covered by crates/server/tests/lifecycle.rs.
"""

import pytest


def test_engine_settings_round_trip_and_validation(extension_client, domain):
    c = extension_client
    d = domain["DomainId"]
    defaults = c.describe_engine_settings(DomainId=d)["EngineSettings"]
    assert defaults["IdentificationAttribute"] == "CustomerId"
    assert defaults["MinimumCallsForVoiceprint"] == 1
    assert defaults["RequireApproval"] is False
    assert defaults["CoolingOff"]["AfterEnrollmentSeconds"] == 0

    updated = c.update_engine_settings(DomainId=d, EngineSettings={
        "MinimumCallsForVoiceprint": 3, "RequireApproval": True,
        "CoolingOff": {"AfterFraudDetectionSeconds": 3600},
        "Detection": {"PotentialDetectionMinimumScore": 30, "MinimumScoreIfVerified": 70},
    })["EngineSettings"]
    assert updated["MinimumCallsForVoiceprint"] == 3
    again = c.describe_engine_settings(DomainId=d)["EngineSettings"]
    assert again == updated
    assert again["Detection"]["PotentialDetectionMinimumScore"] == 30
    # Left-out members take their defaults (UpdateEngineSettings replaces).
    assert again["CoolingOff"]["AfterEnrollmentSeconds"] == 0

    # Out-of-range values: ValidationException, and nothing changes.
    with pytest.raises(c.exceptions.ValidationException):
        c.update_engine_settings(DomainId=d, EngineSettings={"MinimumCallsForVoiceprint": 99})
    assert c.describe_engine_settings(DomainId=d)["EngineSettings"] == updated
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.describe_engine_settings(DomainId="abcdefghijABCDEFGHIJ12")


def test_voiceprint_operations_without_audio(extension_client, domain):
    c = extension_client
    d = domain["DomainId"]
    # An opted-out speaker has no voiceprint and nothing to approve.
    c.opt_out_speaker(DomainId=d, SpeakerId="vp-caller-1")
    vp = c.describe_voiceprint(DomainId=d, SpeakerId="vp-caller-1")["Voiceprint"]
    assert vp["SpeakerStatus"] == "OPTED_OUT"
    assert vp["State"] == "NOT_TRAINED"
    assert vp["Segments"] == []
    with pytest.raises(c.exceptions.ConflictException):
        c.approve_voiceprint(DomainId=d, SpeakerId="vp-caller-1")
    with pytest.raises(c.exceptions.ConflictException):
        c.reject_voiceprint(DomainId=d, SpeakerId="vp-caller-1")
    with pytest.raises(c.exceptions.ConflictException):
        c.update_training_segment(DomainId=d, SpeakerId="vp-caller-1",
                                  SegmentId="abcdefghijABCDEFGHIJ12", Action="REMOVE")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.describe_voiceprint(DomainId=d, SpeakerId="nobody-here")
    # Opted-out speakers are not listed; nothing is pending approval.
    assert c.list_voiceprints(DomainId=d, State="PENDING_APPROVAL")["Voiceprints"] == []
    listed = c.list_voiceprints(DomainId=d, MaxResults=10)["Voiceprints"]
    assert all(v["CustomerSpeakerId"] != "vp-caller-1" for v in listed)
