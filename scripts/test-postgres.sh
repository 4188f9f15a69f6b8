#!/usr/bin/env bash
# A private, throw-away PostgreSQL server for the tests: no systemd, no system cluster touched.
#
#   scripts/test-postgres.sh start DIR   initdb into DIR (created), start on a free port with its socket
#                                        in DIR, print the SQLAlchemy URL (the only line on stdout)
#   scripts/test-postgres.sh stop DIR    stop that server and delete DIR
#
# Typical use (what .ci/run does):
#   dir=$(mktemp -d); trap 'scripts/test-postgres.sh stop "$dir"' EXIT
#   export HOCBA_TEST_DATABASE_URL=$(scripts/test-postgres.sh start "$dir")
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (Debian's package
# creates it), otherwise as the current user. fsync is off: the data is discarded anyway.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")

bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  # Debian/Ubuntu keep the server binaries off PATH, one folder per major version: take the newest.
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then
    echo "$d"
    return
  fi
  d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  if [ -x "$d/initdb" ]; then
    echo "$d"
    return
  fi
  echo "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/install-system.sh postgresql" >&2
  exit 1
}

# Run a command as the server's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")  # from /: postgres may not enter the caller's folder
  else
    "$@"
  fi
}

# A port nothing listens on (bash only: CI starts this before Python is installed).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

case "$cmd" in
  start)
    bin=$(bindir)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      id postgres >/dev/null 2>&1 || { echo "no 'postgres' user: install the postgresql package" >&2; exit 1; }
      chown postgres: "$dir"
    fi
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # A free port can be taken between the check and the start: try a few.
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
          -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
          start >/dev/null 2>&1; then
        echo "$port" >"$dir/port"
        echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
        exit 0
      fi
    done
    echo "PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    if [ -f "$dir/data/postmaster.pid" ]; then
      bin=$(bindir)
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    usage
    ;;
esac
