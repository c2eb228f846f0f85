#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, starting from the committed
# corpora plus seeds derived from ../shared/captures, then minimises each corpus back into
# fuzz/corpus/TARGET. Crashes land in fuzz/artifacts/TARGET; copy each into
# fuzz/regressions/TARGET/ so tests/fuzz_regressions.rs replays it on every CI run.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default 60 s, all targets)
#
# Only stable Rust is available here: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the sanitizer
# flags it needs. cargo-fuzz is installed from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; shift || true
all=(capture link dns http ntp tls command session rules theme)
targets=("${@:-${all[@]}}")
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
caps=()
if [ -d ../shared/captures ]; then
  while IFS= read -r f; do caps+=("$f"); done < <(find ../shared/captures -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.zst' -o -name '*.gz' \) | sort)
fi
cargo run --quiet --release --example fuzz_seeds -- "$seeds" samples/demo.pcap samples/hostile.pcap "${caps[@]}"

# One line per target, replaced when that target runs again, so two copies of this script can run
# different targets at once (one per core) and share the summary.
summary=fuzz/last-run.txt
touch "$summary"
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "$seeds/$t" "fuzz/artifacts/$t"
  work=$(mktemp -d)
  cargo fuzz run --release "$t" "$work" "fuzz/corpus/$t" "$seeds/$t" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 2> "fuzz/artifacts/$t.log" || {
      echo "$t: CRASH, see fuzz/artifacts/$t/ and fuzz/artifacts/$t.log"; }
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/artifacts/$t.log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "fuzz/artifacts/$t.log" | tail -1 | grep -o '[0-9]*')
  # Minimise: keep only inputs that add coverage, so the committed corpus stays small.
  rm -rf "fuzz/corpus/$t.min"; mkdir -p "fuzz/corpus/$t.min"
  cargo fuzz run --release "$t" "fuzz/corpus/$t.min" "$work" "fuzz/corpus/$t" -- -merge=1 -max_len=65536 2>/dev/null || true
  rm -rf "fuzz/corpus/$t" "$work"; mv "fuzz/corpus/$t.min" "fuzz/corpus/$t"
  line="$t: ${secs}s, ${execs:-?} executions, coverage ${cov:-?} edges, corpus $(ls "fuzz/corpus/$t" | wc -l) files"
  echo "$line"
  (flock 9; grep -v "^$t: " "$summary" > "$summary.tmp" || true; echo "$line" >> "$summary.tmp"; mv "$summary.tmp" "$summary") 9> "$summary.lock"
done
