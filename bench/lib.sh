# What the bench scripts share, sourced after `root` is set: the roster binary measured (`roster`: ROSTER_BIN, to
# compare another build, else this checkout's release build), a work directory, the processes and PostgreSQL
# database to clean up at exit (`pids`, `pgdb`), a free port, waiting for a server, timing a command.
[ -n "${ROSTER_BIN:-}" ] || (cd "$root" && cargo build -q --release -p roster)
roster="${ROSTER_BIN:-$root/target/release/roster}"
work="$(mktemp -d)"
pids=()
pgdb=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -z "$pgdb" ] || psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# Credentials on PostgreSQL are sealed under a key file every process shares (roster makes it the first time).
export ROSTER_SECRET_KEY_FILE="$work/secret.key"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }
# Runs a command, prints its wall seconds and peak RSS (MiB) as "SECS RSS".
measure() { /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; awk '{printf "%s %.0f\n", $1, $2/1024}' "$work/time"; }
# directory_db KIND NAME: the directory's URL in $db. sqlite: a file in the work directory; postgres: a new
# database roster_bench_NAME_PID, dropped at exit, its URL with PGQUERY appended (e.g. to force custom plans).
directory_db() {
  if [ "$1" = postgres ]; then
    pgdb="roster_bench_$2_$$"
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pgdb" >/dev/null
    db="postgres://postgres@127.0.0.1:5432/$pgdb${PGQUERY:-}"
  else
    db="sqlite://$work/directory.db"
  fi
}
