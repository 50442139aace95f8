#!/usr/bin/env bash
# Installs what rtp needs from Debian 12 packages, when any of it is missing:
#   scripts/deps.sh run    to build and run (./rtp up)
#   scripts/deps.sh test   to build, run and test (./rtp test; the default)
# Safe to run again: it only calls apt when a package is absent.
set -euo pipefail
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
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian starts a system redis-server on install; the project uses private ones on
# free ports, so the system one is left alone (it does not get in the way).
