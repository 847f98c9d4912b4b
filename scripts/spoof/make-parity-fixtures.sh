#!/usr/bin/env bash
# Regenerates crates/antispoof/tests/fixtures/: a few clips made here with
# espeak-ng and sox (16 kHz 16-bit FLAC) and the PyTorch reference's logits
# for them under each released checkpoint (parity.json). Needs .venv-spoof
# (scripts/spoof/setup-venv.sh) and the weights in ../shared/models (or
# VOICEPRINT_SHARED/models).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED="${VOICEPRINT_SHARED:-$(cd .. && pwd)/shared}"
OUT=crates/antispoof/tests/fixtures
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# 1. short espeak clip (≈ 2 s: tiled to fill a window)
espeak-ng -v en-us -s 160 -w "$TMP/a.wav" "Please verify my voice."
sox "$TMP/a.wav" -r 16000 -b 16 -c 1 "$OUT/espeak_short.flac"
# 2. espeak through a G.711 μ-law telephone channel and back to 16 kHz (≈ 4.6 s: cropped)
espeak-ng -v en-gb -s 140 -w "$TMP/b.wav" "My account number is four five six, and I would like to check my balance."
sox "$TMP/b.wav" -r 8000 -e u-law -c 1 "$TMP/b8.wav"
sox "$TMP/b8.wav" -r 16000 -b 16 -e signed-integer "$OUT/espeak_mulaw.flac"
# 3. noise and tones, no speech (≈ 3 s)
sox -n -r 16000 -b 16 -c 1 "$OUT/noise_tone.flac" synth 3 pinknoise synth 3 sine mix 300-3000 vol 0.3
# 4. longer espeak clip (≈ 7 s: two windows, for the call-level score)
espeak-ng -v en-us+f3 -s 150 -w "$TMP/d.wav" "Thank you for calling. To help us serve you better, please say a few words after the tone, in your normal speaking voice, and then wait."
sox "$TMP/d.wav" -r 16000 -b 16 -c 1 "$OUT/espeak_long.flac"

.venv-spoof/bin/python - "$SHARED/models" "$OUT" <<'PY'
import json, os, sys
import numpy as np, torch
sys.path.insert(0, "scripts/spoof")
from aasist_reference import load, window, windows, read16k
models_dir, out = sys.argv[1], sys.argv[2]
checkpoints = {
    "AASIST": ("aasist/AASIST.conf", "aasist/AASIST.pth"),
    "AASIST-L": ("aasist/AASIST-L.conf", "aasist/AASIST-L.pth"),
    "AASIST-ASVspoof5": ("aasist-asvspoof5/AASIST_ASVspoof5.conf", "aasist-asvspoof5/AASIST-ASVspoof5.pth"),
}
torch.set_num_threads(1)
clips = sorted(f for f in os.listdir(out) if f.endswith(".flac"))
result = {"note": "logits [spoof, bona fide] of the first window, and the mean (bona fide - spoof) logit over the windows the Rust port scores (max 8); made by scripts/spoof/make-parity-fixtures.sh", "clips": {}}
for name, (conf, pth) in checkpoints.items():
    model, n = load(os.path.join(models_dir, conf), os.path.join(models_dir, pth))
    with torch.no_grad():
        for clip in clips:
            x = read16k(os.path.join(out, clip))
            first = model(torch.from_numpy(window(x, n)).unsqueeze(0))[0]
            scores = [float(l[1] - l[0]) for l in (model(torch.from_numpy(np.ascontiguousarray(w)).unsqueeze(0))[0] for w in windows(x, n))]
            result["clips"].setdefault(clip, {})[name] = {
                "logits": [float(v) for v in first],
                "score": sum(scores) / len(scores),
                "windows": len(scores),
            }
with open(os.path.join(out, "parity.json"), "w") as f:
    json.dump(result, f, indent=1)
print(json.dumps(result, indent=1))
PY
