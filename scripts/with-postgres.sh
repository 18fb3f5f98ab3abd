#!/usr/bin/env bash
# Run a command against a private, throw-away PostgreSQL cluster:
#
#   bash scripts/with-postgres.sh cargo test -p intentrail-server
#
# initdb into a temp dir, start it on a free 127.0.0.1 port (as the `postgres` OS user when run
# as root: root cannot run postgres), create the database `intentrail_test`, export
#
#   INTENTRAIL_TEST_POSTGRES_URL  postgres://intentrail:<random>@127.0.0.1:<port>/intentrail_test
#   INTENTRAIL_TEST_PG_CTL        a script taking stop | start | restart (for fault tests)
#
# run the command, then stop the cluster and delete it whatever happened (trap), and exit with
# the command's status. Installs PostgreSQL with apt-get when no server binaries are found.
#
# The cluster lives in /dev/shm when it exists (tests kill rails and stop PostgreSQL cleanly,
# never crash the machine, so a RAM disk loses nothing they check, and a shared machine's
# fsync stalls cannot make them time out). Set WITH_POSTGRES_DIR=/some/disk/dir to put it on
# a disk instead, e.g. for throughput figures.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

find_bin() {
    for d in /usr/local/bin /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            # Resolve /usr/local/bin symlinks to the real bin dir (postgres finds its share/ there).
            dirname "$(readlink -f "$d/initdb")"
            return 0
        fi
    done
    return 1
}

if ! PGBIN=$(find_bin); then
    echo "with-postgres: no PostgreSQL server binaries; installing them with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    PGBIN=$(find_bin) || { echo "with-postgres: PostgreSQL install failed" >&2; exit 1; }
fi

# Who runs the server: root cannot; use the `postgres` account (created if missing).
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
    # No python: probe upward from a random start.
    local p=$(( 20000 + RANDOM % 20000 ))
    while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

PARENT=${WITH_POSTGRES_DIR:-}
if [ -z "$PARENT" ]; then
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then PARENT=/dev/shm; else PARENT=/tmp; fi
fi
WORK=$(mktemp -d "$PARENT/intentrail-pg.XXXXXX")
chmod 755 "$WORK"
DATA="$WORK/data"
PORT=$(free_port)
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
printf '%s\n' "$PASSWORD" >"$WORK/pwfile"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORK"
chmod 600 "$WORK/pwfile"

cleanup() {
    local status=$?
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg "$PGBIN/initdb" -D "$DATA" -U intentrail --pwfile="$WORK/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 \
    || { cat "$WORK/initdb.log" >&2; exit 1; }
rm -f "$WORK/pwfile"
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
max_connections = 200
shared_buffers = 64MB
EOF

as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 30 start >/dev/null \
    || { cat "$WORK/server.log" >&2; exit 1; }
as_pg "$PGBIN/psql" -h "$WORK" -p "$PORT" -U intentrail -d postgres -q \
    -c "CREATE DATABASE intentrail_test" >/dev/null 2>&1 \
    || as_pg "$(dirname "$PGBIN")/bin/createdb" -h "$WORK" -p "$PORT" -U intentrail intentrail_test

# A control script for fault tests (stop / start / restart the cluster, waiting for it).
cat >"$WORK/pgctl" <<EOF
#!/usr/bin/env bash
set -euo pipefail
run() { if [ "\$(id -u)" -eq 0 ]; then runuser -u postgres -- "\$@"; else "\$@"; fi; }
case "\${1:-}" in
    stop) run "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null ;;
    start) run "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 30 start >/dev/null ;;
    restart) run "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -m fast -w -t 30 restart >/dev/null ;;
    *) echo "usage: \$0 stop|start|restart" >&2; exit 2 ;;
esac
EOF
chmod 755 "$WORK/pgctl"

export INTENTRAIL_TEST_POSTGRES_URL="postgres://intentrail:${PASSWORD}@127.0.0.1:${PORT}/intentrail_test"
export INTENTRAIL_TEST_PG_CTL="$WORK/pgctl"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data in $DATA)" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
