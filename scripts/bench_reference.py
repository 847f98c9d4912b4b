"""Reference GE2E throughput: Resemblyzer 0.1.4 (PyTorch, CPU) on the given files.

Decodes every file first (soundfile, as librosa does), then times
VoiceEncoder.embed_utterance on the raw 16 kHz samples, the same work
voiceprint's GE2E does (no preprocess_wav). Prints one JSON line with audio
seconds, process CPU seconds (all threads) and wall seconds.
"""
import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=0,
                help="torch and BLAS/OpenMP threads (0 = library defaults)")
ap.add_argument("--repeat", type=int, default=1)
ap.add_argument("files", nargs="+")
args = ap.parse_args()
if args.threads > 0:
    # Must be set before numpy/torch load their thread pools.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from resemblyzer import VoiceEncoder  # noqa: E402


def main():
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(args.threads)
    wavs = []
    for path in args.files:
        wav, sr = sf.read(path, dtype="float32")
        if sr != 16000:
            raise SystemExit(f"{path}: {sr} Hz, expected 16 kHz")
        wavs.append(wav)
    audio_s = sum(len(w) for w in wavs) / 16000.0 * args.repeat
    enc = VoiceEncoder("cpu", verbose=False)
    enc.embed_utterance(wavs[0])  # warm-up (allocator, MKL init)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(args.repeat):
        for w in wavs:
            enc.embed_utterance(w)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(json.dumps({
        "impl": "resemblyzer-0.1.4 torch-%s threads=%d" % (torch.__version__, torch.get_num_threads()),
        "files": len(wavs), "audio_s": audio_s, "cpu_s": cpu, "wall_s": wall,
        "audio_s_per_cpu_s": audio_s / cpu, "audio_s_per_wall_s": audio_s / wall,
    }))


if __name__ == "__main__":
    main()
