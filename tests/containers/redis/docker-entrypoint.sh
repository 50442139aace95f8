#!/bin/sh
# As the official redis image's entrypoint: `redis-server` without a configuration
# file gets --protected-mode no, so that the other containers may connect when no
# password is set (Redis is reachable only on the compose network).
set -eu
if [ "${1:-}" = "redis-server" ]; then
    case "${2:-}" in
        *.conf) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
