"""Protocol-level behaviour seen by real clients: SigV4 failures through boto3,
unsigned and malformed requests over raw HTTP, awsJson error shapes.
"""

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


def raw_post(server, headers, body=b"{}"):
    """POST / with exactly these headers; returns (status, parsed JSON body, headers)."""
    req = urllib.request.Request(server.endpoint + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), e.headers


JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "VoiceID.ListDomains"}


def test_wrong_secret_is_invalid_signature(server):
    bad = server.client(secret_access_key="x" * 40)
    with pytest.raises(ClientError) as e:
        bad.list_domains()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key_is_unrecognized_client(server):
    stranger = server.client(access_key_id="AKIAUNKNOWN000000000")
    with pytest.raises(ClientError) as e:
        stranger.list_domains()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unsigned_request_is_missing_authentication_token(server):
    status, body, headers = raw_post(server, JSON_HEADERS)
    assert status == 403
    assert body["__type"] == "MissingAuthenticationTokenException"
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"


def test_malformed_authorization_is_incomplete_signature(server):
    headers = dict(JSON_HEADERS, Authorization="AWS4-HMAC-SHA256 Signature=deadbeef")
    status, body, _ = raw_post(server, headers)
    assert status == 400
    assert body["__type"] == "IncompleteSignatureException"
    assert "Credential" in body["message"]


def test_signature_from_another_service_is_refused(server):
    # A request correctly signed for service "s3" must not pass as voiceid.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=server.endpoint + "/", data=b"{}", headers=dict(JSON_HEADERS))
    SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), "s3", "us-east-1").add_auth(req)
    status, body, _ = raw_post(server, dict(req.headers.items()), b"{}")
    assert status == 403
    assert body["__type"] == "InvalidSignatureException"
    assert "voiceid" in body["message"]

    # The same signer with the right service name is accepted.
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=b"{}", headers=dict(JSON_HEADERS))
    SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), "voiceid", "eu-west-2").add_auth(req)
    status, body, _ = raw_post(server, dict(req.headers.items()), b"{}")
    assert status == 200, body
    assert "DomainSummaries" in body


def test_tampered_body_after_signing_is_refused(server):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=server.endpoint + "/", data=b'{"MaxResults": 1}',
                     headers=dict(JSON_HEADERS))
    SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), "voiceid", "us-east-1").add_auth(req)
    status, body, _ = raw_post(server, dict(req.headers.items()), b'{"MaxResults": 2}')
    assert (status, body["__type"]) == (403, "InvalidSignatureException")


def test_unknown_operation_and_bad_json(server, voiceid):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def signed(target, body):
        req = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})
        SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), "voiceid", "us-east-1").add_auth(req)
        return raw_post(server, dict(req.headers.items()), body)

    status, body, _ = signed("VoiceID.LaunchRocket", b"{}")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body, _ = signed("VoiceID.ListDomains", b"{not json")
    assert (status, body["__type"]) == (400, "SerializationException")


def test_responses_carry_a_request_id(voiceid):
    meta = voiceid.list_domains()["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["RequestId"]
