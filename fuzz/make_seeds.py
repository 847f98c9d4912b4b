#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/<target>/ (small, valid
examples of each input so the fuzzers start from the real formats).

Run from the repository root: `python3 fuzz/make_seeds.py`. Needs sox for the
audio seeds (skipped with a message otherwise). The torch checkpoints are
written with Python's own pickle and a stand-in `torch` module: the pickle
stream torch.save emits only names torch's classes, it never needs torch.
"""
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import zipfile
from collections import OrderedDict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------- torch
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")


class FloatStorage:
    pass


FloatStorage.__module__ = "torch"
torch.FloatStorage = FloatStorage


def _rebuild_tensor_v2(*a):
    raise RuntimeError("never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
torch._utils = torch_utils
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


class Storage:
    def __init__(self, key, values):
        self.key, self.values = key, values


class Tensor:
    def __init__(self, storage, offset, size):
        self.storage, self.offset, self.size = storage, offset, size

    def __reduce_ex__(self, proto):
        stride, acc = [], 1
        for s in reversed(self.size):
            stride.insert(0, acc)
            acc *= s
        return (_rebuild_tensor_v2,
                (self.storage, self.offset, tuple(self.size), tuple(stride), False, OrderedDict()))


def state_dict():
    a = Storage("0", [0.5, -1.0, 2.0, 0.25, 3.0, -0.75])
    b = Storage("1", [1.0, 2.0])
    return OrderedDict([
        ("linear.weight", Tensor(a, 0, [2, 3])),
        ("linear.bias", Tensor(b, 0, [2])),
        ("scale", Tensor(a, 4, [1])),
    ]), [a, b]


class Pickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            pid = ("storage", FloatStorage, obj.key, "cpu", len(obj.values))
            return pid + (None,) if self.legacy else pid
        return None


def floats(values):
    return struct.pack("<%df" % len(values), *values)


def legacy_checkpoint():
    sd, storages = state_dict()
    f = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
    Pickler(f, legacy=True).dump(sd)
    pickle.dump([s.key for s in storages], f, protocol=2)
    for s in storages:
        f.write(struct.pack("<Q", len(s.values)))
        f.write(floats(s.values))
    return f.getvalue()


def zip_checkpoint():
    sd, storages = state_dict()
    pkl = io.BytesIO()
    Pickler(pkl, legacy=False).dump(sd)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl.getvalue())
        for s in storages:
            z.writestr("archive/data/" + s.key, floats(s.values))
        z.writestr("archive/version", "3\n")
    return out.getvalue()


put("torch_legacy", "tiny_state_dict.pt", legacy_checkpoint())
put("torch_zip", "tiny_state_dict.pt", zip_checkpoint())

# ---------------------------------------------------------------- audio
# Selector byte (fuzz_targets/audio_decode.rs): bits 0-1 raw encoding (0 =
# container), bit 2 16 kHz, bit 3 stereo, bit 4 channel 1, bit 5 prepare.
if shutil.which("sox"):
    with tempfile.TemporaryDirectory() as tmp:
        def sox(name, *args):
            path = os.path.join(tmp, name)
            subprocess.run(["sox", "-n", *args, path, "synth", "0.15", "sine", "300-900",
                            "vol", "0.5"], check=True)
            with open(path, "rb") as f:
                return f.read()
        put("audio_decode", "wav_s16_16k", b"\x20" + sox("a.wav", "-r", "16000", "-c", "1", "-b", "16"))
        put("audio_decode", "wav_mulaw_8k", b"\x00" + sox("b.wav", "-r", "8000", "-c", "1", "-e", "u-law"))
        put("audio_decode", "wav_alaw_stereo", b"\x10" + sox("c.wav", "-r", "8000", "-c", "2", "-e", "a-law"))
        put("audio_decode", "flac_16k", b"\x20" + sox("d.flac", "-r", "16000", "-c", "1"))
        raw = sox("f.raw", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw")
        put("audio_decode", "raw_mulaw_8k", b"\x22" + raw)
        put("audio_decode", "raw_alaw_8k_stereo", b"\x1b" + raw)
        put("audio_decode", "raw_pcm_16k", b"\x25" + sox("g.raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw"))
else:
    print("sox not found: audio seeds not written", file=sys.stderr)
# sox here has no MP3 encoder: the audio crate's own MP3 fixture.
mp3 = os.path.join(os.path.dirname(ROOT), "..", "crates", "audio", "tests", "fixtures", "tone_440hz_16k_mono.mp3")
with open(mp3, "rb") as f:
    put("audio_decode", "mp3_16k", b"\x20" + f.read())

# ---------------------------------------------------------------- antispoof
for conf in ["aasist/AASIST.conf", "aasist/AASIST-L.conf", "aasist-asvspoof5/AASIST_ASVspoof5.conf"]:
    src = os.path.join(os.path.dirname(ROOT), "..", "..", "shared", "models", conf)
    if os.path.exists(src):
        with open(src, "rb") as f:
            put("antispoof_config", os.path.basename(conf), f.read())
put("antispoof_config", "minimal.conf", json.dumps({"model_config": {
    "nb_samp": 64600, "first_conv": 128, "filts": [70, [1, 32], [32, 32], [32, 64], [64, 64]],
    "gat_dims": [64, 32], "pool_ratios": [0.5, 0.7, 0.5, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0]}}))

# ---------------------------------------------------------------- flows
flows = os.path.join(os.path.dirname(ROOT), "..", "crates", "flows", "tests", "flows")
for name in sorted(os.listdir(flows)):
    with open(os.path.join(flows, name), "rb") as f:
        put("flow_json", name, f.read())

# ---------------------------------------------------------------- job manifests
# Selector byte: bit 0 = fraudster registration.
put("job_manifest", "enrollment.json", b"\x00" + json.dumps({
    "Version": "1.0",
    "SpeakerEnrollmentRequests": [
        {"RequestId": "r1", "SpeakerId": "caller-1",
         "AudioSpecifications": [{"S3Uri": "s3://calls/a.wav", "ChannelId": 0}]},
        {"RequestId": "r2", "SpeakerId": "caller_2",
         "AudioSpecifications": [{"S3Uri": "s3://calls/b.flac", "ChannelId": 1},
                                 {"S3Uri": "s3://calls/c.mp3"}]},
    ]}).encode())
put("job_manifest", "fraudsters.json", b"\x01" + json.dumps({
    "Version": "1.0",
    "FraudsterRegistrationRequests": [
        {"RequestId": "f1", "WatchlistIds": ["abcdefghijklmnopqrstuv"],
         "AudioSpecifications": [{"S3Uri": "s3://calls/fraud.wav", "ChannelId": 0}]},
    ]}).encode())

# ---------------------------------------------------------------- awsJson bodies
# Selector byte = index into OPERATIONS ++ EXTENSION_OPERATIONS (crates/server/src/ops/mod.rs).
OPS = ["AssociateFraudster", "CreateDomain", "CreateWatchlist", "DeleteDomain", "DeleteFraudster",
       "DeleteSpeaker", "DeleteWatchlist", "DescribeDomain", "DescribeFraudster",
       "DescribeFraudsterRegistrationJob", "DescribeSpeaker", "DescribeSpeakerEnrollmentJob",
       "DescribeWatchlist", "DisassociateFraudster", "EvaluateSession", "ListDomains",
       "ListFraudsterRegistrationJobs", "ListFraudsters", "ListSpeakerEnrollmentJobs", "ListSpeakers",
       "ListTagsForResource", "ListWatchlists", "OptOutSpeaker", "StartFraudsterRegistrationJob",
       "StartSpeakerEnrollmentJob", "TagResource", "UntagResource", "UpdateDomain", "UpdateWatchlist",
       "StartSession", "UpdateSession", "DescribeSession", "EndSession", "EnrollBySession",
       "RegisterFraudsterBySession", "StartContact", "DescribeContact", "AgentAction"]
D = "abcdefghijklmnopqrstuv"
SSE = {"KmsKeyId": "alias/voiceprint"}
BODIES = {
    "AssociateFraudster": {"DomainId": D, "FraudsterId": "fraudster1234567890abc", "WatchlistId": D},
    "CreateDomain": {"Name": "contact-center", "Description": "main line", "ClientToken": "token-1",
                     "ServerSideEncryptionConfiguration": SSE,
                     "Tags": [{"Key": "team", "Value": "fraud"}]},
    "CreateWatchlist": {"DomainId": D, "Name": "known-fraud", "ClientToken": "t"},
    "DescribeDomain": {"DomainId": D},
    "DescribeSpeaker": {"DomainId": D, "SpeakerId": "caller-1"},
    "DeleteSpeaker": {"DomainId": D, "SpeakerId": "caller-1"},
    "OptOutSpeaker": {"DomainId": D, "SpeakerId": "caller-1"},
    "EvaluateSession": {"DomainId": D, "SessionNameOrId": "call-42"},
    "ListDomains": {"MaxResults": 10, "NextToken": "abc"},
    "ListSpeakers": {"DomainId": D, "MaxResults": 2},
    "StartSpeakerEnrollmentJob": {
        "DomainId": D, "JobName": "nightly", "DataAccessRoleArn": "arn:aws:iam::123456789012:role/voiceid",
        "InputDataConfig": {"S3Uri": "s3://bucket/in.json"},
        "OutputDataConfig": {"S3Uri": "s3://bucket/out/", "KmsKeyId": "k"},
        "EnrollmentConfig": {"ExistingEnrollmentAction": "OVERWRITE",
                             "FraudDetectionConfig": {"FraudDetectionAction": "FAIL", "RiskThreshold": 50}}},
    "TagResource": {"ResourceArn": "arn:aws:voiceid:us-east-1:123456789012:domain/" + D,
                    "Tags": [{"Key": "k", "Value": "v"}]},
    "UntagResource": {"ResourceArn": "arn:aws:voiceid:us-east-1:123456789012:domain/" + D, "TagKeys": ["k"]},
    "UpdateDomain": {"DomainId": D, "Name": "renamed", "ServerSideEncryptionConfiguration": SSE},
    "StartSession": {"DomainId": D, "SessionName": "call-42", "SpeakerId": "caller-1"},
    "EnrollBySession": {"DomainId": D, "SessionNameOrId": "call-42", "SpeakerId": "caller-1"},
    "StartContact": {"DomainId": D, "Flow": {"Version": "2019-10-30", "StartAction": "a", "Actions": []}},
}
for i, op in enumerate(OPS):
    body = BODIES.get(op, {"DomainId": D})
    put("aws_json_request", op, bytes([i]) + json.dumps(body).encode())
put("aws_json_request", "empty_ListDomains", bytes([OPS.index("ListDomains")]))

# ---------------------------------------------------------------- SigV4
# The AWS SigV4 test suite's get-vanilla request (verifies at the target's fixed clock).
put("sigv4_header", "get_vanilla",
    "GET /\nhost: example.amazonaws.com\nx-amz-date: 20150830T123600Z\n"
    "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    "SignedHeaders=host;x-amz-date, "
    "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n")
put("sigv4_header", "post_voiceid",
    "POST /?b=2&a=1\nhost: localhost:8400\ncontent-type: application/x-amz-json-1.0\n"
    "x-amz-target: VoiceID.ListDomains\nx-amz-date: 20150830T123000Z\n"
    "x-amz-content-sha256: 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n"
    "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/voiceid/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00\n\n{}")

# ---------------------------------------------------------------- stream frames
# Selector byte: 0 native (first frame), 1 native (after format), 2 Twilio.
put("stream_frames", "native_format", b"\x00" + json.dumps(
    {"encoding": "mulaw", "sample_rate": 8000, "channels": 2, "customer_channel": 1,
     "speaker_id": "caller-1"}).encode())
put("stream_frames", "native_stop", b"\x01" + b'{"event":"stop"}')
put("stream_frames", "twilio_start", b"\x02" + json.dumps(
    {"event": "start", "sequenceNumber": "1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "accountSid": "AC1", "tracks": ["inbound"],
        "customParameters": {"domainId": D, "sessionName": "call-42", "token": "x"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}).encode())
put("stream_frames", "twilio_media", b"\x02" + json.dumps(
    {"event": "media", "media": {"track": "inbound", "chunk": "2", "timestamp": "5",
                                 "payload": "/////w=="}}).encode())
put("stream_frames", "twilio_stop", b"\x02" + b'{"event":"stop","stop":{"callSid":"CA1"}}')
# ---------------------------------------------------------------- telephony
# telephony_sip selector: 0 SDP, 1 rs-metadata, 2 customer rule, 3 SIP stream + dialog.
SDP = ("v=0\r\no=SRC 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
       "m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=label:1\r\na=sendonly\r\n"
       "m=audio 6002 RTP/AVP 0\r\nc=IN IP4 192.0.2.11\r\na=label:2\r\na=sendonly\r\n")
METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ=="><sipSessionID>ab30317f;remote=47755a9d</sipSessionID></session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w=="><nameID aor="sip:customer-a@example.com"><name xml:lang="en">Alice &amp; Co</name></nameID></participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw=="><nameID aor="sip:agent@example.com"/><send>8zc6e0lYTlWIINA6GR+3ag==</send></participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>1</label></stream>
  <stream stream_id="8zc6e0lYTlWIINA6GR+3ag==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>2</label></stream>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w=="><send>UAAMm5GRQKSCMVvLyl4rFw==</send></participantstreamassoc>
</recording>"""
put("telephony_sip", "sdp_offer", b"\x00" + SDP.encode())
put("telephony_sip", "rs_metadata", b"\x01" + METADATA.encode())
put("telephony_sip", "customer_rule", b"\x02header:X-Customer")


def sip(method, cseq, body_parts=None, to_tag=""):
    head = (f"{method} sip:srs@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{cseq}\r\n"
            f"From: <sip:cust-9@example.com>;tag=src1\r\nTo: <sip:srs@127.0.0.1>{to_tag}\r\n"
            f"Call-ID: call-1@127.0.0.1\r\nCSeq: {cseq} {method}\r\n")
    body = b""
    if body_parts:
        body = b"".join(b"--XX\r\nContent-Type: " + ct.encode() + b"\r\n\r\n" + b_ + b"\r\n"
                        for ct, b_ in body_parts) + b"--XX--\r\n"
        head += "Require: siprec\r\nContent-Type: multipart/mixed;boundary=\"XX\"\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


dialog = (sip("INVITE", 1, [("application/sdp", SDP.encode()),
                            ("application/rs-metadata+xml", METADATA.encode())])
          + sip("ACK", 1, to_tag=";tag=vp1") + sip("BYE", 2, to_tag=";tag=vp1"))
put("telephony_sip", "siprec_dialog", b"\x03" + dialog)

# telephony_media: chunks separated by 0xFF; selector 0 AudioHook text,
# 1 AudioHook audio, 2 ISO duration, 3 AudioSocket frame, 4 AudioSocket stream, 5 RTP.
AH_ID = "e160e428-53e2-487c-977d-96989bf5c99d"


def ah(kind, seq, serverseq, parameters):
    return json.dumps({"version": "2", "type": kind, "seq": seq, "serverseq": serverseq,
                       "id": AH_ID, "position": "PT1.5S", "parameters": parameters}).encode()


ah_open = ah("open", 1, 0, {
    "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
    "conversationId": "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
    "participant": {"id": "883efee8", "ani": "+1-555-555-1234", "dnis": "+1-800-555-6789"},
    "media": [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}],
    "customConfig": {"CustomerSpeakerId": "cust-7"}})
audio = bytes([0x7F, 0x00] * 80)  # PCMU, stereo, 10 ms; no 0xFF byte (the chunk separator)
put("telephony_media", "audiohook_session",
    b"\xff".join([b"\x00" + ah_open, b"\x01" + audio, b"\x00" + ah("ping", 2, 1, {}),
                  b"\x00" + ah("close", 3, 1, {"reason": "end"})]))
put("telephony_media", "iso_duration", b"\x02PT12.345S")
uuid = bytes(range(1, 17))
slin = bytes([0x10, 0x00] * 160)
frames = (b"\x01\x00\x10" + uuid) + (b"\x10\x01\x40" + slin) + b"\x00\x00\x00"
put("telephony_media", "audiosocket_frames", b"\x03" + frames + b"\xff\x04" + frames)
rtp_hdr = bytes([0x80, 0x00, 0x00, 0x07, 0x00, 0x00, 0x03, 0x20, 0x12, 0x34, 0x56, 0x78])
put("telephony_media", "rtp_pcmu", b"\x05" + rtp_hdr + bytes([0x7E] * 160))
print("seeds written under", ROOT)
