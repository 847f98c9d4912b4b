#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the PostgreSQL tests and prints the
# connection string to export as VOICEPRINT_TEST_DATABASE_URL, e.g.
#   export VOICEPRINT_TEST_DATABASE_URL="$(scripts/pg-test-server.sh start)"
#   scripts/pg-test-server.sh stop
# Uses Debian's postgresql package (installed when missing and apt is usable), a
# data directory under ${VOICEPRINT_PG_DIR:-/tmp/voiceprint-pg}, trust
# authentication on 127.0.0.1 only, and port ${VOICEPRINT_PG_PORT:-55432}.
# Running as root, the server runs as the `postgres` user (PostgreSQL refuses root).
set -euo pipefail
dir=${VOICEPRINT_PG_DIR:-/tmp/voiceprint-pg}
port=${VOICEPRINT_PG_PORT:-55432}
action=${1:-start}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$bin" && "$action" == start ]]; then
    if command -v apt-get >/dev/null; then
        echo "installing postgresql (Debian package)" >&2
        export DEBIAN_FRONTEND=noninteractive
        (apt-get install -y -q postgresql >&2 || (apt-get update -q >&2 && apt-get install -y -q postgresql >&2))
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    else
        echo "PostgreSQL is not installed and apt-get is unavailable" >&2
        exit 1
    fi
fi

as_owner() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$action" in
start)
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        rm -rf "$dir"
        mkdir -p "$dir"
        [[ $(id -u) == 0 ]] && chown postgres "$dir"
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U voiceprint >/dev/null
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
            -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
    fi
    echo "host=127.0.0.1 port=$port user=voiceprint"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
