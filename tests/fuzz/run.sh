#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) and runs each
# for a bounded time on a copy of its committed seed corpus. Fails if any target
# finds a crash, a leak, a timeout or a sanitizer report.
#
#   tests/fuzz/run.sh [SECONDS [OUT_DIR [TARGET...]]]
#
#   SECONDS  per target (default: $RTP_FUZZ_SECONDS, else 20); `run.sh 600` is the long run;
#            0 only replays the committed corpus
#   OUT_DIR  where binaries, working corpora, logs and crash files go (default: build-fuzz
#            at the repository root, git-ignored)
#   TARGET   sse, tweet, proto, analysis (default: all four)
#
# The main (gcc) build is not involved: each target is compiled straight from its
# sources in common/. The committed corpus is never written to; inputs that find
# new coverage stay in OUT_DIR/corpus/<target>, a crash in OUT_DIR/artifacts.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${1:-${RTP_FUZZ_SECONDS:-20}}
out=${2:-$repo/build-fuzz}
shift $(( $# < 2 ? $# : 2 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sse tweet proto analysis)

case $seconds in '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac

cc=""
for c in clang clang-14; do
  if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
done
if [ -z "$cc" ]; then
  echo "run.sh: clang not found. The fuzz targets need clang with libFuzzer:" >&2
  echo "        apt-get install clang libclang-rt-14-dev   (scripts/deps.sh installs both)" >&2
  exit 2
fi

# The sources and pkg-config packages of each target.
sources_sse="sse.c"
sources_tweet="tweet.c json_arena.c json_parse.c json_raw.c rtp_err.c"
sources_proto="proto.c util.c tweet.c json_arena.c json_parse.c json_raw.c rtp_err.c"
sources_analysis="analysis.c lexicon.c censor.c keytab.c rtp_err.c"
pkgs_sse=""
pkgs_tweet="libcjson"
pkgs_proto="libczmq libzmq libcjson"
pkgs_analysis="libcjson"
# Longest input libFuzzer makes: room for the largest tweet of the bundled data.
max_len_sse=16384
max_len_tweet=16384
max_len_proto=16384
max_len_analysis=8192

mkdir -p "$out/corpus" "$out/artifacts" "$out/logs"
failed=()
for t in "${targets[@]}"; do
  srcs_var=sources_$t
  if [ -z "${!srcs_var:-}" ]; then
    echo "run.sh: unknown target '$t' (sse, tweet, proto, analysis)" >&2
    exit 2
  fi
  pkgs_var=pkgs_$t
  max_len_var=max_len_$t
  srcs=()
  for s in ${!srcs_var}; do srcs+=("$repo/common/$s"); done
  flags=()
  libs=()
  if [ -n "${!pkgs_var}" ]; then
    read -r -a flags <<<"$(pkg-config --cflags ${!pkgs_var})"
    read -r -a libs <<<"$(pkg-config --libs ${!pkgs_var})"
  fi
  bin=$out/fuzz_$t
  if ! "$cc" -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      -DRTP_FUZZ_DATA_DIR="\"$repo/data\"" -I"$repo/common" "${flags[@]}" \
      "$here/fuzz_$t.c" "${srcs[@]}" -o "$bin" "${libs[@]}"; then
    echo "run.sh: fuzz_$t does not compile with $cc (is libclang-rt-14-dev installed?)" >&2
    exit 2
  fi

  work=$out/corpus/$t
  rm -rf "$work"
  mkdir -p "$work"
  cp "$here/corpus/$t/"* "$work/"
  seeds=$(ls "$work" | wc -l)
  log=$out/logs/fuzz_$t.log
  rc=0
  # -timeout: one input running this long is a hang; -rss_limit_mb also caps a
  # single malloc; leaks are checked at the end of each input (-detect_leaks).
  limit=-max_total_time=$seconds
  [ "$seconds" -gt 0 ] || limit=-runs=0 # libFuzzer's 0 would mean no limit
  "$bin" "$limit" -timeout=10 -rss_limit_mb=1024 -max_len="${!max_len_var}" \
    -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$out/artifacts/fuzz_$t-" \
    "$work" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  size=$(ls "$work" | wc -l)
  if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant broken' "$log"; then
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} executions; corpus $seeds -> $size inputs; log $log"
    grep -E 'ERROR:|runtime error:|invariant broken|SUMMARY:|Test unit written' "$log" | head -20 | sed 's/^/  /'
    failed+=("$t")
  else
    echo "fuzz_$t: ok, ${execs:-0} executions in ${seconds} s; corpus $seeds -> $size inputs"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "run.sh: FAILED: ${failed[*]} (reproduce: $out/fuzz_<target> <crash file>)"
  exit 1
fi
echo "run.sh: all ${#targets[@]} targets passed"
