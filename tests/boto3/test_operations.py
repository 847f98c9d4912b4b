"""Every Voice ID operation through boto3's own `voice-id` client: happy paths and
the documented errors (ResourceNotFound, Conflict, Validation, ServiceQuota).

Add a test here for a new operation or error path; SigV4 and protocol-level
behaviour is in test_protocol.py.
"""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import SEEDED_SPEAKERS

MISSING_ID = "A" * 22
ROLE = "arn:aws:iam::123456789012:role/voiceid-batch"


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response


def test_domain_lifecycle(voiceid):
    created = voiceid.create_domain(
        Name="lifecycle", Description="first domain",
        ServerSideEncryptionConfiguration={"KmsKeyId": "default"},
        Tags=[{"Key": "team", "Value": "fraud"}],
    )["Domain"]
    dom = created["DomainId"]
    assert len(dom) == 22 and created["Name"] == "lifecycle"
    assert created["DomainStatus"] == "ACTIVE"
    assert created["Arn"].endswith(f":domain/{dom}")
    # botocore parsed CreatedAt as a timestamp: the wire format is right.
    assert created["CreatedAt"].year >= 2024

    assert voiceid.describe_domain(DomainId=dom)["Domain"] == created
    updated = voiceid.update_domain(
        DomainId=dom, Name="renamed", ServerSideEncryptionConfiguration={"KmsKeyId": "default"}
    )["Domain"]
    assert updated["Name"] == "renamed"
    assert "Description" not in updated, "UpdateDomain clears an omitted Description"

    names = [d["Name"] for d in voiceid.list_domains()["DomainSummaries"]]
    assert "renamed" in names

    voiceid.delete_domain(DomainId=dom)
    err = error_of(voiceid.describe_domain, DomainId=dom)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["ResourceType"] == "DOMAIN"
    assert error_of(voiceid.delete_domain, DomainId=dom)["Error"]["Code"] == "ResourceNotFoundException"
    err = error_of(voiceid.update_domain, DomainId=MISSING_ID, Name="x",
                   ServerSideEncryptionConfiguration={"KmsKeyId": "default"})
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_unknown_kms_key_is_a_validation_error(voiceid):
    err = error_of(voiceid.create_domain, Name="bad-key",
                   ServerSideEncryptionConfiguration={"KmsKeyId": "no-such-key"})
    assert err["Error"]["Code"] == "ValidationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_watchlists_and_their_quota(voiceid, domain):
    dom = domain["DomainId"]
    default_wl = domain["WatchlistDetails"]["DefaultWatchlistId"]
    w = voiceid.create_watchlist(DomainId=dom, Name="vip", Description="d")["Watchlist"]
    wid = w["WatchlistId"]
    assert w["DefaultWatchlist"] is False
    assert voiceid.describe_watchlist(DomainId=dom, WatchlistId=wid)["Watchlist"] == w
    u = voiceid.update_watchlist(DomainId=dom, WatchlistId=wid, Name="vip2")["Watchlist"]
    assert (u["Name"], u["Description"]) == ("vip2", "d")
    err = error_of(voiceid.update_watchlist, DomainId=dom, WatchlistId=default_wl, Name="x")
    assert err["Error"]["Code"] == "ValidationException"
    ids = {s["WatchlistId"] for s in voiceid.list_watchlists(DomainId=dom)["WatchlistSummaries"]}
    assert ids == {default_wl, wid}
    err = error_of(voiceid.describe_watchlist, DomainId=dom, WatchlistId=MISSING_ID)
    assert (err["Error"]["Code"], err["ResourceType"]) == ("ResourceNotFoundException", "WATCHLIST")
    err = error_of(voiceid.create_watchlist, DomainId=MISSING_ID, Name="x")
    assert err["Error"]["Code"] == "ResourceNotFoundException"

    # Keep creating until the per-domain quota refuses (a handful at most).
    codes = []
    for i in range(10):
        try:
            voiceid.create_watchlist(DomainId=dom, Name=f"extra{i}")
        except ClientError as e:
            codes.append(e.response["Error"]["Code"])
            break
    assert codes == ["ServiceQuotaExceededException"]

    voiceid.delete_watchlist(DomainId=dom, WatchlistId=wid)
    err = error_of(voiceid.delete_watchlist, DomainId=dom, WatchlistId=wid)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    err = error_of(voiceid.delete_watchlist, DomainId=dom, WatchlistId=default_wl)
    assert err["Error"]["Code"] == "ValidationException"


def test_fraudster_operations_on_missing_fraudsters(voiceid, domain):
    # Fraudsters only come from registration jobs, which need audio (not yet
    # processed): the read/modify operations answer ResourceNotFound.
    dom = domain["DomainId"]
    wl = domain["WatchlistDetails"]["DefaultWatchlistId"]
    fid = "id#" + "b" * 22
    for call, kwargs in [
        (voiceid.describe_fraudster, {}),
        (voiceid.delete_fraudster, {}),
        (voiceid.associate_fraudster, {"WatchlistId": wl}),
        (voiceid.disassociate_fraudster, {"WatchlistId": wl}),
    ]:
        err = error_of(call, DomainId=dom, FraudsterId=fid, **kwargs)
        assert err["Error"]["Code"] == "ResourceNotFoundException", call
    assert voiceid.list_fraudsters(DomainId=dom)["FraudsterSummaries"] == []
    assert voiceid.list_fraudsters(DomainId=dom, WatchlistId=wl)["FraudsterSummaries"] == []
    err = error_of(voiceid.list_fraudsters, DomainId=dom, WatchlistId=MISSING_ID)
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_speakers_describe_opt_out_delete(server, voiceid):
    dom = server.seeded_domain
    by_customer = voiceid.describe_speaker(DomainId=dom, SpeakerId="seed-0000003")["Speaker"]
    assert by_customer["Status"] == "ENROLLED"
    gid = by_customer["GeneratedSpeakerId"]
    assert gid.startswith("id#") and len(gid) == 25
    assert voiceid.describe_speaker(DomainId=dom, SpeakerId=gid)["Speaker"] == by_customer
    err = error_of(voiceid.describe_speaker, DomainId=dom, SpeakerId="nobody")
    assert (err["Error"]["Code"], err["ResourceType"]) == ("ResourceNotFoundException", "SPEAKER")

    opted = voiceid.opt_out_speaker(DomainId=dom, SpeakerId="brand-new-caller")["Speaker"]
    assert (opted["Status"], opted["CustomerSpeakerId"]) == ("OPTED_OUT", "brand-new-caller")
    voiceid.delete_speaker(DomainId=dom, SpeakerId="brand-new-caller")
    err = error_of(voiceid.delete_speaker, DomainId=dom, SpeakerId="brand-new-caller")
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    err = error_of(voiceid.list_speakers, DomainId=MISSING_ID)
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_list_speakers_pages_with_max_results(server, voiceid):
    dom = server.seeded_domain
    seen, pages, token = [], 0, None
    while True:
        kwargs = {"DomainId": dom, "MaxResults": 10}
        if token:
            kwargs["NextToken"] = token
        page = voiceid.list_speakers(**kwargs)
        pages += 1
        assert len(page["SpeakerSummaries"]) <= 10
        seen += [s["CustomerSpeakerId"] for s in page["SpeakerSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    # Other tests may opt out/delete extra speakers, never the seeded ones.
    seeded = [s for s in seen if s.startswith("seed-")]
    assert len(seeded) == SEEDED_SPEAKERS and len(set(seeded)) == SEEDED_SPEAKERS
    assert pages == -(-len(seen) // 10)
    # boto3's paginator drives the same tokens.
    pager = voiceid.get_paginator("list_speakers")
    via_pager = [s["CustomerSpeakerId"]
                 for p in pager.paginate(DomainId=dom, PaginationConfig={"PageSize": 7})
                 for s in p["SpeakerSummaries"]]
    assert via_pager == seen


def test_list_domains_pages_forged_tokens_and_domain_quota(voiceid):
    # With the seeded domain this reaches Voice ID's default quota of 3 domains.
    made = [voiceid.create_domain(Name=f"page{i}", ServerSideEncryptionConfiguration={"KmsKeyId": "default"})
            ["Domain"]["DomainId"] for i in range(2)]
    try:
        err = error_of(voiceid.create_domain, Name="one-too-many",
                       ServerSideEncryptionConfiguration={"KmsKeyId": "default"})
        assert err["Error"]["Code"] == "ServiceQuotaExceededException"
        ids, token = [], None
        while True:
            page = voiceid.list_domains(MaxResults=1, **({"NextToken": token} if token else {}))
            assert len(page["DomainSummaries"]) <= 1
            ids += [d["DomainId"] for d in page["DomainSummaries"]]
            token = page.get("NextToken")
            if not token:
                break
        assert set(made) <= set(ids) and len(ids) == len(set(ids))
        err = error_of(voiceid.list_domains, MaxResults=1, NextToken="forged.token")
        assert err["Error"]["Code"] == "ValidationException"
    finally:
        for d in made:
            voiceid.delete_domain(DomainId=d)


def test_client_token_makes_creates_idempotent(voiceid):
    req = dict(Name="idem", ClientToken="tok-123", ServerSideEncryptionConfiguration={"KmsKeyId": "default"})
    a = voiceid.create_domain(**req)["Domain"]
    try:
        assert voiceid.create_domain(**req)["Domain"] == a
        err = error_of(voiceid.create_domain, **{**req, "Name": "other"})
        assert err["Error"]["Code"] == "ValidationException"
        w = dict(DomainId=a["DomainId"], Name="w", ClientToken="wt")
        assert voiceid.create_watchlist(**w)["Watchlist"] == voiceid.create_watchlist(**w)["Watchlist"]
    finally:
        voiceid.delete_domain(DomainId=a["DomainId"])


def test_speaker_enrollment_jobs(voiceid, domain):
    dom = domain["DomainId"]
    job_input = dict(DomainId=dom, DataAccessRoleArn=ROLE, JobName="enrol-1", ClientToken="job-token-1",
                     InputDataConfig={"S3Uri": "s3://bucket/manifest.json"},
                     OutputDataConfig={"S3Uri": "s3://bucket/out"})
    job = voiceid.start_speaker_enrollment_job(**job_input)["Job"]
    assert (job["JobStatus"], job["JobName"]) == ("SUBMITTED", "enrol-1")
    assert job["EnrollmentConfig"]["ExistingEnrollmentAction"] == "SKIP"
    assert voiceid.start_speaker_enrollment_job(**job_input)["Job"] == job, "same ClientToken replays"
    err = error_of(voiceid.start_speaker_enrollment_job, **{**job_input, "ClientToken": "job-token-2"})
    assert err["Error"]["Code"] == "ServiceQuotaExceededException"
    jid = job["JobId"]
    assert voiceid.describe_speaker_enrollment_job(DomainId=dom, JobId=jid)["Job"] == job
    err = error_of(voiceid.describe_speaker_enrollment_job, DomainId=dom, JobId=MISSING_ID)
    assert (err["Error"]["Code"], err["ResourceType"]) == ("ResourceNotFoundException", "BATCH_JOB")
    listed = voiceid.list_speaker_enrollment_jobs(DomainId=dom, JobStatus="SUBMITTED")["JobSummaries"]
    assert [j["JobId"] for j in listed] == [jid]
    assert voiceid.list_speaker_enrollment_jobs(DomainId=dom, JobStatus="FAILED")["JobSummaries"] == []


def test_fraudster_registration_jobs(voiceid, domain):
    dom = domain["DomainId"]
    default_wl = domain["WatchlistDetails"]["DefaultWatchlistId"]
    job_input = dict(DomainId=dom, DataAccessRoleArn=ROLE,
                     InputDataConfig={"S3Uri": "s3://bucket/manifest.json"},
                     OutputDataConfig={"S3Uri": "s3://bucket/out"},
                     RegistrationConfig={"DuplicateRegistrationAction": "REGISTER_AS_NEW",
                                         "WatchlistIds": [MISSING_ID]})
    err = error_of(voiceid.start_fraudster_registration_job, **job_input)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    job_input["RegistrationConfig"]["WatchlistIds"] = [default_wl]
    job = voiceid.start_fraudster_registration_job(**job_input)["Job"]
    assert job["RegistrationConfig"]["DuplicateRegistrationAction"] == "REGISTER_AS_NEW"
    assert voiceid.describe_fraudster_registration_job(DomainId=dom, JobId=job["JobId"])["Job"] == job
    summaries = voiceid.list_fraudster_registration_jobs(DomainId=dom)["JobSummaries"]
    assert [j["JobId"] for j in summaries] == [job["JobId"]]
    err = error_of(voiceid.list_fraudster_registration_jobs, DomainId=MISSING_ID)
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    err = error_of(voiceid.describe_fraudster_registration_job, DomainId=dom, JobId=MISSING_ID)
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_evaluate_session_without_a_session(voiceid, domain):
    err = error_of(voiceid.evaluate_session, DomainId=domain["DomainId"], SessionNameOrId="contact-1")
    assert (err["Error"]["Code"], err["ResourceType"]) == ("ResourceNotFoundException", "SESSION")


def test_tags(voiceid, domain):
    arn = domain["Arn"]
    voiceid.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "x"}])
    voiceid.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert voiceid.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}]
    foreign = arn.rsplit("/", 1)[0] + "/" + MISSING_ID
    err = error_of(voiceid.list_tags_for_resource, ResourceArn=foreign)
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_server_side_validation_messages(voiceid, domain):
    # botocore checks required members and minimums itself; maxima, patterns and
    # enums reach the server, which must name the member as AWS does.
    dom = domain["DomainId"]
    err = error_of(voiceid.list_speakers, DomainId=dom, MaxResults=101)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Error"]["Message"] == (
        "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100")
    err = error_of(voiceid.describe_domain, DomainId="A" * 21 + "!")
    assert err["Error"]["Message"] == (
        "1 validation error detected: Value at 'domainId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9]{22}")
    err = error_of(voiceid.create_domain, Name="n" * 257,
                   ServerSideEncryptionConfiguration={"KmsKeyId": "default"})
    assert "Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 256" \
        in err["Error"]["Message"]
    err = error_of(voiceid.list_speaker_enrollment_jobs, DomainId=dom, JobStatus="DONE")
    assert "Member must satisfy enum value set: [SUBMITTED, IN_PROGRESS, COMPLETED, COMPLETED_WITH_ERRORS, FAILED]" \
        in err["Error"]["Message"]
    err = error_of(voiceid.tag_resource, ResourceArn=domain["Arn"], Tags=[{"Key": "bad<key>", "Value": "v"}])
    assert "Value at 'tags.1.member.key'" in err["Error"]["Message"]


def test_timestamps_advance(voiceid):
    a = voiceid.create_domain(Name="t1", ServerSideEncryptionConfiguration={"KmsKeyId": "default"})["Domain"]
    time.sleep(1.1)
    u = voiceid.update_domain(DomainId=a["DomainId"], Name="t2",
                              ServerSideEncryptionConfiguration={"KmsKeyId": "default"})["Domain"]
    try:
        assert u["UpdatedAt"] > a["UpdatedAt"] and u["CreatedAt"] == a["CreatedAt"]
    finally:
        voiceid.delete_domain(DomainId=a["DomainId"])


def test_timestamps_read_back_exactly(voiceid, domain):
    # Regression: epoch-second floats once came back from storage one ULP off,
    # so Describe* disagreed with the Update* response in ~1 of 13 calls.
    dom = domain["DomainId"]
    wid = voiceid.create_watchlist(DomainId=dom, Name="clock")["Watchlist"]["WatchlistId"]
    for i in range(60):
        updated = voiceid.update_watchlist(DomainId=dom, WatchlistId=wid, Name=f"clock{i}")["Watchlist"]
        described = voiceid.describe_watchlist(DomainId=dom, WatchlistId=wid)["Watchlist"]
        assert described["UpdatedAt"] == updated["UpdatedAt"], i
