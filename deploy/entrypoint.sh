#!/bin/sh
# The image's entrypoint (under tini): runs the command it is given, after two
# container conveniences that the executables themselves do not need:
#
# - REDIS_PASSWORD_FILE: a file holding the Redis password (a swarm or Kubernetes
#   secret mounted as a file). Its content is put into REDIS_URL
#   (redis://host:port/db -> redis://:PASSWORD@host:port/db), so the password never
#   sits in the stack file or the image. The password must be URL-safe
#   (A-Z a-z 0-9 . _ ~ -), e.g. `openssl rand -hex 24`.
# - A worker (rtp-censor, rtp-sentiment, rtp-engagement) started directly gets
#   RTP_NAME = POOL-HOSTNAME unless RTP_NAME is set: replicas all have the same PID in
#   their containers, so the default name (pool-pid) would not tell them apart in logs.
#   Workers that `rtp supervise` starts are not affected (they are its children).
set -eu

if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    if [ ! -r "$REDIS_PASSWORD_FILE" ]; then
        echo "rtp-entrypoint: REDIS_PASSWORD_FILE=$REDIS_PASSWORD_FILE is not readable" >&2
        exit 64
    fi
    password=$(cat "$REDIS_PASSWORD_FILE")
    case "$password" in
        "" | *[!A-Za-z0-9._~-]*)
            echo "rtp-entrypoint: the password in $REDIS_PASSWORD_FILE is empty or has characters" \
                 "other than A-Z a-z 0-9 . _ ~ - (they would need URL encoding)" >&2
            exit 64 ;;
    esac
    url=${REDIS_URL:-redis://127.0.0.1:6379}
    case "$url" in
        redis://*@*)
            echo "rtp-entrypoint: REDIS_URL already has a password; set only one of REDIS_URL's" \
                 "password and REDIS_PASSWORD_FILE" >&2
            exit 64 ;;
        redis://*) REDIS_URL="redis://:${password}@${url#redis://}" ;;
        *)
            echo "rtp-entrypoint: REDIS_URL must start with redis://" >&2
            exit 64 ;;
    esac
    export REDIS_URL
    unset password url
fi

if [ $# -gt 0 ]; then
    case "$1" in
        rtp-censor | rtp-sentiment | rtp-engagement)
            if [ -z "${RTP_NAME:-}" ]; then
                RTP_NAME="${1#rtp-}-${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}"
                export RTP_NAME
            fi ;;
    esac
fi

exec "$@"
