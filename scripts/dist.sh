#!/usr/bin/env bash
# Builds the distribution binary, target/dist/holoscope: the `dist` profile (fat LTO, one
# codegen unit) with profile-guided optimisation (PGO). A first build is instrumented, runs
# `report` on traffic holoscope generates itself (a 400 k-packet capture of another seed than
# the benchmark's, and the shipped sample), and the counts it writes steer the second build's
# inlining and code layout. Results do not change, only the speed: the script checks that the
# binary's reports match the plain release build's, byte for byte.
#
# Needs llvm-profdata of rustc's own LLVM version (Debian: `apt-get install llvm-22` for
# rustc 1.95; or `rustup component add llvm-tools`). HOLOSCOPE_PGO=0 builds without PGO;
# HOLOSCOPE_PGO=auto, with PGO when the tool is there (CI). About 10 minutes on 2 cores.
# Usage: scripts/dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
llvm=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
out=target/dist/holoscope

# An extra rustc flag for one build, added to the ones .cargo/config.toml gives: RUSTFLAGS,
# when set, replaces all configured flags, so ours joins it then (RUSTFLAGS splits on spaces:
# a checkout path with a space needs it unset); otherwise it joins the configured target
# flags through --config (Cargo merges every matching target entry), as a TOML string.
with_flags() {
  local flag=$1
  shift
  if [ -n "${RUSTFLAGS+x}" ]; then
    RUSTFLAGS="$RUSTFLAGS $flag" "$@"
  else
    flag=${flag//\\/\\\\}
    flag=${flag//\"/\\\"}
    "$@" --config "target.$host.rustflags=[\"$flag\"]"
  fi
}

pgo=${HOLOSCOPE_PGO:-1}
profdata=""
if [ "$pgo" != 0 ]; then
  sysroot_tool="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
  for tool in "llvm-profdata-$llvm" llvm-profdata "$sysroot_tool"; do
    if command -v "$tool" >/dev/null 2>&1 \
      && "$tool" --version 2>/dev/null | grep -q "LLVM version $llvm\."; then
      profdata=$tool
      break
    fi
  done
  if [ -z "$profdata" ]; then
    echo "PGO needs llvm-profdata from LLVM $llvm (rustc's version): install it (Debian:" >&2
    echo "apt-get install llvm-$llvm; or: rustup component add llvm-tools), or build" >&2
    echo "without PGO: HOLOSCOPE_PGO=0 scripts/dist.sh" >&2
    [ "$pgo" = auto ] || exit 1
    echo "warning: building without PGO" >&2
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "==> release build (the reference)"
cargo build --locked --release
target/release/holoscope sample --packets 400000 --seed 11 -o "$work/train.pcap" >/dev/null

if [ -z "$profdata" ]; then
  echo "==> build (target/dist)"
  cargo build --locked --profile dist
  what="fat LTO, no PGO"
else
  profile="$PWD/target/pgo/holoscope.profdata"
  mkdir -p target/pgo
  echo "==> instrumented build (target/pgo)"
  with_flags "-Cprofile-generate=$work/build-scripts" \
    cargo build --locked --profile dist --target-dir target/pgo
  gen=target/pgo/dist/holoscope

  echo "==> training runs"
  # Only these runs write the counts that are used (build scripts ran instrumented too).
  export LLVM_PROFILE_FILE="$work/train/%m-%p.profraw"
  "$gen" report "$work/train.pcap" --format json --output /dev/null
  "$gen" report samples/demo.pcap --format markdown --output /dev/null
  "$gen" rules samples/demo.pcap --format nft --output "$work/demo.nft"
  unset LLVM_PROFILE_FILE
  "$profdata" merge -o "$profile" "$work/train"

  echo "==> optimised build (target/dist)"
  with_flags "-Cprofile-use=$profile" cargo build --locked --profile dist
  what="fat LTO + PGO; profile $profile"
fi

echo "==> same results as the release build"
for capture in samples/demo.pcap "$work/train.pcap"; do
  target/release/holoscope report "$capture" --format json --output "$work/release.json"
  "$out" report "$capture" --format json --output "$work/dist.json"
  if ! cmp -s "$work/release.json" "$work/dist.json"; then
    echo "error: $out reports $capture differently from target/release/holoscope" >&2
    exit 1
  fi
done
echo "built $out ($what)"
