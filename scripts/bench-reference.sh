#!/usr/bin/env bash
# GE2E throughput: voiceprint (Rust) vs the reference Resemblyzer 0.1.4
# (PyTorch on CPU) on the same 16 kHz files, in audio seconds per CPU second.
#
#   scripts/bench-reference.sh [FILE.flac ...]
#
# Without arguments it uses the first $BENCH_FILES (default 20) LibriSpeech
# files of ../shared/data. Creates .venv-bench/ (git-ignored) on first use with
# torch, librosa, soundfile, webrtcvad and resemblyzer from PyPI (torch's wheel
# is large: several GB with its CUDA libraries, used here on CPU only).
# Needs the GE2E weights (scripts/fetch-models.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-bench"
repeat="${BENCH_REPEAT:-1}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, resemblyzer, librosa" 2>/dev/null; then
  echo "creating $venv (torch + resemblyzer; first run downloads several GB)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q torch librosa soundfile webrtcvad-wheels
  # resemblyzer pins nothing useful and wants `webrtcvad`, which has no wheels:
  # webrtcvad-wheels provides the same module.
  "$venv/bin/pip" install -q --no-deps resemblyzer==0.1.4
fi

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  data="$root/../shared/data/librispeech-251spk"
  [ -d "$data" ] || { echo "no files given and $data not found" >&2; exit 1; }
  mapfile -t files < <(ls "$data"/*.flac | sort | head -n "${BENCH_FILES:-20}")
fi

cd "$root"
cargo build -q --release -p voiceprint-engine --example throughput
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/throughput"

echo "== ${#files[@]} files, repeat $repeat" >&2
rust_json="$("$bin" --repeat "$repeat" "${files[@]}")"
echo "$rust_json"
rust_bf16_json="$("$bin" --repeat "$repeat" --bf16 "${files[@]}")"
echo "$rust_bf16_json"
ref_json="$("$venv/bin/python" "$root/scripts/bench_reference.py" --repeat "$repeat" "${files[@]}" 2>/dev/null)"
echo "$ref_json"
ref1_json="$("$venv/bin/python" "$root/scripts/bench_reference.py" --threads 1 --repeat "$repeat" "${files[@]}" 2>/dev/null)"
echo "$ref1_json"

# Ratios: audio seconds per CPU second (process CPU time, all threads), so a
# reference that spreads over more cores gains nothing it does not earn.
python3 - "$rust_json" "$rust_bf16_json" "$ref_json" "$ref1_json" <<'PY'
import json, sys
rust, rust_bf16, ref, ref1 = (json.loads(a) for a in sys.argv[1:])
for ours in (rust, rust_bf16):
    for r in (ref, ref1):
        print("%s vs %s: %.1fx per CPU-second (%.1f vs %.1f audio s/CPU s), %.1fx wall"
              % (ours["impl"], r["impl"], ours["audio_s_per_cpu_s"] / r["audio_s_per_cpu_s"],
                 ours["audio_s_per_cpu_s"], r["audio_s_per_cpu_s"],
                 ours["audio_s_per_wall_s"] / r["audio_s_per_wall_s"]))
PY
