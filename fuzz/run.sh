#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time; exits non-zero
# on any crash, hang or out-of-memory. Used by .ci/run; also for humans:
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 20 s each, all targets)
#
# Builds with plain cargo and the flags `cargo fuzz build` uses (libFuzzer
# coverage instrumentation + AddressSanitizer), so CI needs no cargo-fuzz
# install. The sanitizer flag is unstable: RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept it. Each target runs on a scratch corpus seeded from
# fuzz/corpus/TARGET, which stays unchanged; crashing inputs are kept in
# fuzz/artifacts/TARGET/ and printed in base64.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(capture decode track windows)

triple=$(rustc -vV | sed -n 's/^host: //p')
flags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-sanitizer-coverage-stack-depth
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    --cfg fuzzing
    -Zsanitizer=address
    -Cdebug-assertions
    -Ccodegen-units=1
)
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="${flags[*]} ${RUSTFLAGS:-}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
# Same target directory and triple as `cargo fuzz`, so the two share builds.
# Not --locked: fuzz/Cargo.lock follows the crates' dependencies as they change.
cargo build --release --target "$triple" --bins
bin=target/$triple/release

# Per target: largest input, and the largest single allocation allowed. A
# capture header may claim up to MAX_CAPLEN (256 MiB); the reader must only
# allocate as data arrives, so a few-KiB input never needs 64 MiB.
declare -A max_len=([capture]=16384 [decode]=4096 [track]=4096)
declare -A malloc_mb=([capture]=64 [decode]=256 [track]=512)

passed=0 failed=0
for t in "${targets[@]}"; do
    scratch=$(mktemp -d)
    mkdir -p "artifacts/$t"
    echo "fuzz: $t for ${secs}s"
    if "$bin/$t" "$scratch" "corpus/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb="${malloc_mb[$t]:-2048}" -max_len="${max_len[$t]:-4096}" \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$scratch.log" 2>&1; then
        passed=$((passed + 1))
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' "$scratch.log" || true
    else
        failed=$((failed + 1))
        grep -E -A2 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' "$scratch.log" |
            head -n 20 || true
        tail -n 12 "$scratch.log"
        sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$scratch.log" | while read -r f; do
            if [[ -f $f ]]; then
                echo "fuzz: $t crashing input $f (base64): $(base64 -w0 "$f")"
            fi
        done
    fi
    rm -rf "$scratch" "$scratch.log"
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
