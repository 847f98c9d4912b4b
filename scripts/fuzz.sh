#!/usr/bin/env bash
# Builds the cargo-fuzz targets (fuzz/, docs/FUZZING.md) and runs each for a time.
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]     (default: 60 s, every target)
#
# Targets run one after another (one core each). Each starts from its committed
# seeds (fuzz/corpus/<target>, never written to) plus a scratch corpus kept in
# fuzz/target/corpus/<target> between runs. A crash, panic, timeout or OOM is
# written to fuzz/artifacts/<target>/, minimised, and makes the script exit 1
# once every target has run. Prints one line per target: seconds, executions.
#
# Environment: FUZZ_SANITIZER (default none: the parsers are safe Rust, so
# ASan mostly costs build and run time; set `address` for the C parts),
# FUZZ_NICE (nice level, default 0), FUZZ_BUILD_JOBS (default 2),
# FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_TIMEOUT_S (one input, default 10),
# FUZZ_NO_BUILD=1 (run the binaries already built).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
nice_level=${FUZZ_NICE:-0}
target_dir=$PWD/fuzz/target
# Never the workspace's target dir: the fuzz build uses other flags.
unset CARGO_TARGET_DIR

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz not found: cargo +nightly install cargo-fuzz --locked" >&2
  exit 2
fi

all_targets=$(cargo +nightly fuzz list --fuzz-dir fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$(echo $all_targets)"

# One target: build just it; otherwise all (they share one dependency build).
build_args=()
[ ${#targets[@]} -eq 1 ] && build_args=("${targets[0]}")
start=$(date +%s)
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  CARGO_BUILD_JOBS=${FUZZ_BUILD_JOBS:-2} nice -n "$nice_level" \
    cargo +nightly fuzz build --fuzz-dir fuzz -s "$sanitizer" --target-dir "$target_dir" "${build_args[@]}"
  echo "fuzz build: $(( $(date +%s) - start )) s (sanitizer: $sanitizer)" >&2
fi

bin_dir=$target_dir/x86_64-unknown-linux-gnu/release
failed=()
summary=()
for t in "${targets[@]}"; do
  bin=$bin_dir/$t
  [ -x "$bin" ] || { echo "no fuzz target $t (have: $all_targets)" >&2; exit 2; }
  seeds=fuzz/corpus/$t
  scratch=$target_dir/corpus/$t
  artifacts=fuzz/artifacts/$t
  mkdir -p "$seeds" "$scratch" "$artifacts"
  log=$target_dir/$t.log
  echo "== $t: ${seconds} s" >&2
  set +e
  nice -n "$nice_level" "$bin" -max_total_time="$seconds" -print_final_stats=1 \
    -rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}" -timeout="${FUZZ_TIMEOUT_S:-10}" \
    -artifact_prefix="$artifacts/" "$scratch" "$seeds" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  summary+=("$(printf '%-18s %5s s %12s execs  exit %s' "$t" "$seconds" "${runs:-?}" "$rc")")
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    tail -40 "$log" >&2
    for crash in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/slow-unit-*; do
      [ -f "$crash" ] || continue
      case "$crash" in *.min) continue ;; esac
      [ -f "$crash.min" ] && continue
      "$bin" -minimize_crash=1 -max_total_time=60 -exact_artifact_path="$crash.min" "$crash" \
        >"$target_dir/$t.tmin.log" 2>&1 || true
      echo "kept $crash (minimised: $crash.min)" >&2
    done
  fi
done

printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
