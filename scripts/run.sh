#!/usr/bin/env bash
# One command on a fresh machine: fetch the model weights, build voiceprint in release
# mode and run the server with its embedded defaults. Extra arguments go to `serve`,
# e.g. `scripts/run.sh --listen 0.0.0.0:7700 --data-dir /var/lib/voiceprint`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh
cargo build --release --locked -p voiceprint
export VOICEPRINT_MODELS_DIR=${VOICEPRINT_MODELS_DIR:-$PWD/models}
# The server reads [engine] models_dir; the weights were just fetched, so a load
# failure should stop the start rather than leave sessions and jobs failing.
export VOICEPRINT__ENGINE__MODELS_DIR=${VOICEPRINT__ENGINE__MODELS_DIR:-$VOICEPRINT_MODELS_DIR}
export VOICEPRINT__ENGINE__REQUIRED=${VOICEPRINT__ENGINE__REQUIRED:-true}
exec target/release/voiceprint serve "$@"
