"""CreateAgentToken through boto3 (issue 12) with the merged model (conftest
`extension_client`), and the agent panel it opens. The live panel (event stream,
actions, headless Chromium) is covered by crates/server/tests/agent_ui.rs.
"""

import datetime
import urllib.error
import urllib.request

import pytest


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def test_agent_token_opens_its_own_session_only(extension_client, server, domain):
    c = extension_client
    d = domain["DomainId"]
    one = c.start_session(DomainId=d, SessionName="agent-call-1", SpeakerId="caller-1")["Session"]
    two = c.start_session(DomainId=d, SessionName="agent-call-2", SpeakerId="caller-2")["Session"]

    t = c.create_agent_token(DomainId=d, SessionNameOrId="agent-call-1", DurationSeconds=600)
    assert t["Token"].startswith("vpat_")
    assert t["SessionId"] == one["SessionId"]
    left = t["ExpiresAt"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=590) < left <= datetime.timedelta(seconds=600)

    status, ctype, body = _get(server.endpoint + t["Url"])
    assert status == 200 and ctype.startswith("text/html")
    assert "/agent/agent.js" in body
    status, _, state = _get(server.endpoint + t["Url"].replace("/agent?", "/agent/state?", 1))
    assert status == 200 and '"SessionName":"agent-call-1"' in state

    # The same token on the other call's session: refused.
    foreign = t["Url"].replace(one["SessionId"].replace("#", "%23"), two["SessionId"].replace("#", "%23"))
    assert foreign != t["Url"]
    status, _, body = _get(server.endpoint + foreign)
    assert status == 403 and "another call" in body


def test_agent_token_input_errors(extension_client, domain):
    c = extension_client
    d = domain["DomainId"]
    c.start_session(DomainId=d, SessionName="agent-call-3")
    with pytest.raises(c.exceptions.ValidationException):
        c.create_agent_token(DomainId=d)
    with pytest.raises(c.exceptions.ValidationException):
        c.create_agent_token(DomainId=d, SessionNameOrId="agent-call-3", ContactId="agent-call-3")
    with pytest.raises(c.exceptions.ValidationException):
        c.create_agent_token(DomainId=d, SessionNameOrId="agent-call-3", DurationSeconds=3601)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_agent_token(DomainId=d, SessionNameOrId="no-such-call")
