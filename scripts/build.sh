#!/usr/bin/env bash
# Configures and builds into a build folder: scripts/build.sh [DIR] [extra cmake args]
# The compiler's full output goes to DIR/build.log; the terminal gets one progress
# line (a line per quarter when it is not a terminal) and every line that is not
# progress: compiler diagnostics, errors. RTP_BUILD_VERBOSE=1 shows everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$root/build"}
shift || true
mkdir -p "$dir"
log="$dir/build.log"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$log"
if [ "${RTP_BUILD_VERBOSE:-0}" = 1 ]; then
  cmake --build "$dir" -j"$(nproc)" 2>&1 | tee -a "$log"
  exit "${PIPESTATUS[0]}"
fi

# Reads make's output: "[ 52%] Building C object ..." lines become the progress
# line; the lines of the build's bookkeeping are dropped; anything else is shown.
s_progress() {
  local line pct=0 shown=0 tty=0 width=80
  if [ -t 1 ]; then
    tty=1
    width=$(tput cols 2>/dev/null || echo 80)
  fi
  while IFS= read -r line; do
    if [[ $line =~ ^\[\ *([0-9]+)%\]\ (.*)$ ]]; then
      pct=${BASH_REMATCH[1]}
      if [ $tty = 1 ]; then
        local text="rtp: building $dir: $pct% ${BASH_REMATCH[2]}"
        printf '\r\033[K%s' "${text:0:$((width - 1))}"
      elif [ "$pct" -ge $((shown + 25)) ]; then
        shown=$((pct / 25 * 25))
        echo "rtp: building $dir: $pct%"
      fi
    elif [[ $line =~ ^(Scanning\ dependencies|Consolidate\ compiler\ generated) ]]; then
      :
    else
      [ $tty = 0 ] || printf '\r\033[K'
      echo "$line"
    fi
  done
  [ $tty = 0 ] || printf '\r\033[K'
}

started=$SECONDS
set +e
cmake --build "$dir" -j"$(nproc)" 2>&1 | tee -a "$log" | s_progress
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "rtp: the build in $dir failed (its whole output: $log)" >&2
  exit "$status"
fi
echo "rtp: built $dir in $((SECONDS - started)) s (log: $log)"
