#!/usr/bin/env bash
# Installs what rtp needs from Debian 12 packages, when any of it is missing:
#   scripts/deps.sh run    to build and run (./rtp up)
#   scripts/deps.sh test   to build, run and test (./rtp test; the default)
# Safe to run again: it only calls apt when a package is absent. It says in two lines
# what it installs; apt's own output goes to a log file (RTP_DEPS_LOG, default
# build/deps.log), shown only when the installation fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log=${RTP_DEPS_LOG:-"$root/build/deps.log"}
packages=(build-essential cmake pkg-config libzmq3-dev libczmq-dev libcurl4-openssl-dev
          libcjson-dev libhiredis-dev redis-server redis-tools python3)
if [ "${1:-test}" = "test" ]; then
  # fuzzing (clang + libFuzzer runtime), the elasticity plot, the compose-file check,
  # YAML parsing for the deploy files, and the terminal UI test
  packages+=(curl clang libclang-rt-14-dev gnuplot-nox docker-compose python3-yaml tmux iproute2 procps)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0

echo "rtp: installing from Debian (${#missing[@]} packages): ${missing[*]}"
echo "rtp: (a few minutes on a fresh machine; apt's output goes to $log)"
mkdir -p "$(dirname "$log")"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
started=$SECONDS
# apt waits for another apt (or dpkg) instead of failing at once on its lock; the
# environment is given through env, since sudo does not pass it on.
apt=("${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
if ! { "${apt[@]}" update -q && "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"; } \
     >"$log" 2>&1 </dev/null; then
  echo "rtp: installing the packages failed; the end of $log:" >&2
  tail -n 25 "$log" >&2
  exit 1
fi
echo "rtp: installed in $((SECONDS - started)) s"
# Debian starts a system redis-server on install; the project uses private ones on
# free ports, so the system one is left alone (it does not get in the way).
