"""Speaker-verification trials with spoofs, for `voiceprint eval --antispoof-models-dir`.

For each of N LibriSpeech speakers of shared/data with an utterance of at least
14 s: the first half enrolls, the real second half is the target trial, and
WORLD and Griffin-Lim copy-synthesis of that second half are the spoof trials
(an attacker replaying a vocoded copy of the customer's own voice). Each
speaker's second half is also a nontarget trial against the next speaker.

Usage: .venv-spoof/bin/python scripts/spoof/make-spoof-trials.py OUT_DIR [--shared DIR] [-n N]
Writes OUT_DIR/*.wav and OUT_DIR/trials.tsv.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from generate import SR, griffin_lim, world_copy, write16k  # noqa: E402

import soundfile as sf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.environ.get("VOICEPRINT_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared")))
    ap.add_argument("-n", type=int, default=24)
    args = ap.parse_args()
    libri = os.path.join(args.shared, "data", "librispeech-251spk")
    os.makedirs(args.out, exist_ok=True)
    chosen = []
    for f in sorted(os.listdir(libri)):
        x, sr = sf.read(os.path.join(libri, f), dtype="float32")
        if sr == SR and len(x) >= 14 * SR:
            chosen.append((f.split("-")[0], x[: 24 * SR]))
        if len(chosen) == args.n:
            break
    lines = []
    for i, (spk, x) in enumerate(chosen):
        half = len(x) // 2
        write16k(os.path.join(args.out, f"enroll_{spk}.wav"), x[:half])
        write16k(os.path.join(args.out, f"genuine_{spk}.wav"), x[half:])
        write16k(os.path.join(args.out, f"world_{spk}.wav"), world_copy(x[half:]))
        write16k(os.path.join(args.out, f"griffinlim_{spk}.wav"), griffin_lim(x[half:]))
        lines.append(f"enroll_{spk}.wav\tgenuine_{spk}.wav\ttarget")
        lines.append(f"enroll_{spk}.wav\tworld_{spk}.wav\tspoof")
        lines.append(f"enroll_{spk}.wav\tgriffinlim_{spk}.wav\tspoof")
        other = chosen[(i + 1) % len(chosen)][0]
        lines.append(f"enroll_{spk}.wav\tgenuine_{other}.wav\tnontarget")
        print(i, spk, file=sys.stderr)
    with open(os.path.join(args.out, "trials.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} trials in {args.out}/trials.tsv", file=sys.stderr)


if __name__ == "__main__":
    main()
