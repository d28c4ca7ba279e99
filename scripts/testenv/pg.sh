#!/usr/bin/env bash
# pg.sh - a private PostgreSQL 15 server for the test suite (the CTest
# fixture `pg`: tests pg_start / pg_stop).
#
#   pg.sh start DIR   initdb a fresh cluster in DIR/data and start it on a
#                     unix socket only (DIR/sock, no TCP), then write its base
#                     URL to DIR/url and the postmaster's PID to DIR/pid
#   pg.sh stop DIR    stop that server (pg_ctl stop -m fast), wait for the
#                     PID to be gone, remove DIR
#
# The server refuses to run as root: as root the cluster belongs to the
# `postgres` user (DIR itself stays root's, 0755); otherwise it runs as the
# caller. Durability is not wanted here: fsync and synchronous_commit are
# off (a crash of the test machine loses the test databases, nothing else),
# which makes the tracker's many small transactions several times cheaper.
# A server left by an earlier run in DIR is stopped before a new start.
set -euo pipefail

PGBIN=${TG_PG_BIN:-/usr/lib/postgresql/15/bin}

die() { echo "pg.sh: $*" >&2; exit 1; }

usage() { die "usage: pg.sh start DIR | stop DIR"; }

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$dir" in
  /*) ;;
  *) dir="$PWD/$dir" ;;
esac

for b in initdb pg_ctl postgres; do
  [ -x "$PGBIN/$b" ] || die "no PostgreSQL server at $PGBIN ($b missing):" \
    "apt-get install postgresql (scripts/setup.sh does)"
done

# as_pg CMD...: run as the cluster's owner.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root, but there is no user 'postgres'" \
    "to own the cluster: apt-get install postgresql (scripts/setup.sh does)"
  as_pg() { runuser -u postgres -- "$@"; }
  OWNER=postgres
else
  as_pg() { "$@"; }
  OWNER=$(id -un)
fi

# alive PID: the process runs. An exited postmaster is a zombie until
# whoever inherited it (PID 1, a subreaper) reaps it: that counts as gone.
alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# wait_gone PID SECONDS: 0 once PID is gone.
wait_gone() {
  local pid=$1 i
  for ((i = 0; i < $2 * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  return 1
}

stop() {
  local pid=""
  [ -e "$dir" ] || return 0
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
  elif [ -f "$dir/data/postmaster.pid" ]; then
    pid=$(head -n 1 "$dir/data/postmaster.pid")
  fi
  if alive "$pid"; then
    if ! as_pg "$PGBIN/pg_ctl" -D "$dir/data" -s -m fast -t 30 stop >/dev/null 2>&1; then
      # pg_ctl could not: an immediate shutdown of that postmaster by its PID
      kill -QUIT "$pid" 2>/dev/null || true
    fi
    wait_gone "$pid" 30 || die "the server (PID $pid) is still running after 30 s;" \
      "see $dir/log"
  fi
  if [ -f "$dir/sockdir" ]; then
    rm -rf -- "$(cat "$dir/sockdir")"
  fi
  rm -rf -- "$dir"
}

# A port nothing listens on over TCP (the server itself opens none, but a
# stray client default must not reach another server by accident).
free_port() {
  local base=$((20000 + ($$ % 9000))) p i
  for ((i = 0; i < 1000; i++)); do
    p=$((base + i))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port in $base..$((base + 999))"
}

start() {
  stop
  mkdir -p "$dir"
  chmod 0755 "$dir"
  local port sock
  port=$(free_port)
  # a unix socket path holds at most 107 bytes: a deep build tree gets its
  # socket directory under /tmp instead
  sock="$dir/sock"
  if [ $((${#sock} + 20)) -gt 100 ]; then
    sock=$(mktemp -d /tmp/tgpg.XXXXXX)
    echo "$sock" >"$dir/sockdir"
  else
    mkdir -p "$sock"
  fi
  mkdir -p "$dir/data"
  : >"$dir/log"
  chmod 0755 "$sock"
  chmod 0700 "$dir/data"
  chown "$OWNER" "$dir/data" "$sock" "$dir/log"
  as_pg test -w "$dir/data" -a -w "$sock" ||
    die "the user $OWNER cannot reach $dir (a parent directory without o+x?)"

  if ! as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale \
         >"$dir/initdb.log" 2>&1; then
    tail -n 20 "$dir/initdb.log" >&2
    die "initdb -D $dir/data failed (above; $dir/initdb.log)"
  fi

  # pg_ctl daemonizes the server with its output in DIR/log; nothing of it
  # may hold this script's stdout/stderr, or CTest waits for the server.
  if ! as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -s -W \
         -o "-k $sock -p $port -c listen_addresses= -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
         start </dev/null >/dev/null 2>&1; then
    tail -n 20 "$dir/log" >&2
    die "pg_ctl start failed (the log's tail above; $dir/log)"
  fi

  local i pid=""
  for ((i = 0; i < 300; i++)); do
    if [ -S "$sock/.s.PGSQL.$port" ] && [ -f "$dir/data/postmaster.pid" ] &&
       "$PGBIN/pg_isready" -q -h "$sock" -p "$port" -U postgres 2>/dev/null; then
      pid=$(head -n 1 "$dir/data/postmaster.pid")
      break
    fi
    sleep 0.1
  done
  if [ -z "$pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -s -m immediate stop >/dev/null 2>&1 || true
    tail -n 20 "$dir/log" >&2
    die "the server did not accept connections on $sock/.s.PGSQL.$port within 30 s" \
      "(the log's tail above; $dir/log)"
  fi
  echo "$pid" >"$dir/pid"
  echo "postgresql://postgres@/postgres?host=$sock&port=$port" >"$dir/url"
  echo "pg.sh: PostgreSQL (PID $pid) at $(cat "$dir/url")"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
