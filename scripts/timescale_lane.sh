#!/usr/bin/env bash
# The TimescaleDB test lane: a real PostgreSQL 17 + TimescaleDB (Apache edition) + PostGIS server for the
# database tests. Debian 12 has no TimescaleDB package, Debian 13 has, and its binaries need Debian 13's
# glibc, so the server runs from a Debian 13 (trixie) chroot cached outside the repo (PLATFORM_NOTES.md).
#
#   scripts/timescale_lane.sh ensure   build the chroot and its cluster when missing (~1 min, ~900 MB, once)
#   scripts/timescale_lane.sh start    start the server on 127.0.0.1:$TIMESCALE_PORT (idempotent, waits)
#   scripts/timescale_lane.sh stop     stop the server and unmount what start mounted
#   scripts/timescale_lane.sh status   print whether the server runs
#   scripts/timescale_lane.sh test     ensure + start + the lane's tests + stop; exit code of the tests
#
# Needs root (debootstrap, chroot, mount). Every failure exits non-zero with a message saying why: the lane
# never "passes" by not running.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT="${TIMESCALE_CHROOT:-/opt/timescale-chroot}"
PORT="${TIMESCALE_PORT:-55433}"
SUITE="${TIMESCALE_SUITE:-trixie}"
PG_MAJOR=17
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
# Inside the chroot. Our own cluster, not the packaging's 17/main, so its settings are ours alone.
PGDATA_IN_CHROOT="/var/lib/postgresql/fleet-lane"
LOGFILE_IN_CHROOT="/var/log/postgresql/fleet-lane.log"
PACKAGES="postgresql-${PG_MAJOR},postgresql-${PG_MAJOR}-timescaledb,postgresql-${PG_MAJOR}-postgis-3"
READY_MARK="${CHROOT}/.fleet-timescale-lane-ready"
PYTHON="${PYTHON:-${REPO_ROOT}/.venv/bin/python}"

# What the lane runs: every test marked `timescale` anywhere under these paths, plus the database tests
# below (run once more here, against TimescaleDB, without the marker filter).
TIMESCALE_MARKED_PATHS="${TIMESCALE_MARKED_PATHS:-tests}"
TIMESCALE_LANE_TESTS="${TIMESCALE_LANE_TESTS:-tests/test_migrations.py tests/test_roles.py tests/test_timescale.py tests/test_analytics_views.py tests/test_analytics_simulator.py}"

die() { echo "timescale lane: ERROR: $*" >&2; exit 1; }
say() { echo "timescale lane: $*"; }

require_root() {
    [[ "$(id -u)" == 0 ]] || die "must run as root (debootstrap, chroot and mount need it); try: sudo $0 $*"
}

# The Debian mirror this machine's apt already uses (never a hard-coded host): the first URI serving this
# release's main suite, from deb822 *.sources files or one-line *.list files. TIMESCALE_MIRROR overrides.
debian_mirror() {
    if [[ -n "${TIMESCALE_MIRROR:-}" ]]; then echo "$TIMESCALE_MIRROR"; return; fi
    local codename
    # shellcheck disable=SC1091  # the host's release file
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    [[ -n "$codename" ]] || die "cannot read VERSION_CODENAME from /etc/os-release"
    local f uri=""
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        uri="$(awk -v want="$codename" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; suites = ""; types = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (tolower(line) ~ /^types:/)   { sub(/^[^:]*:[ \t]*/, "", line); types = line }
                    if (tolower(line) ~ /^uris:/)    { sub(/^[^:]*:[ \t]*/, "", line); uris = line }
                    if (tolower(line) ~ /^suites:/)  { sub(/^[^:]*:[ \t]*/, "", line); suites = line }
                    if (tolower(line) ~ /^enabled:/) { sub(/^[^:]*:[ \t]*/, "", line); enabled = tolower(line) }
                }
                if (enabled == "no" || types !~ /(^| )deb( |$)/) next
                n = split(suites, s, /[ \t]+/)
                for (j = 1; j <= n; j++) if (s[j] == want) { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f")"
        [[ -n "$uri" ]] && break
    done
    if [[ -z "$uri" ]]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -r "$f" ]] || continue
            # deb [options] URI SUITE COMPONENTS...
            uri="$(awk -v want="$codename" '
                $1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == want) { print $i; exit }
                }' "$f")"
            [[ -n "$uri" ]] && break
        done
    fi
    shopt -u nullglob
    [[ -n "$uri" ]] || die "no Debian mirror for '$codename' found in /etc/apt/sources.list{,.d/*}; set TIMESCALE_MIRROR"
    echo "$uri"
}

in_chroot() { chroot "$CHROOT" "$@"; }
as_postgres() { chroot "$CHROOT" runuser -u postgres -- "$@"; }

cmd_ensure() {
    require_root ensure
    if [[ -f "$READY_MARK" ]]; then
        say "chroot ready at $CHROOT (cached)"
        return 0
    fi
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap"
        apt-get install -y --no-install-recommends debootstrap >/dev/null 2>&1 \
            || { apt-get update >/dev/null && apt-get install -y --no-install-recommends debootstrap >/dev/null; } \
            || die "debootstrap is missing and 'apt-get install debootstrap' failed"
    fi
    local mirror build
    mirror="$(debian_mirror)"
    # Build beside the target and rename at the end: a half-built chroot is never mistaken for a ready one.
    build="${CHROOT}.building"
    if [[ -d "$build" ]]; then
        say "removing an unfinished build at $build"
        unmount_all "$build"
        rm -rf --one-file-system "$build"
    fi
    say "debootstrap $SUITE from $mirror into $CHROOT (once: about a minute and ~900 MB)"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$build" "$mirror" >"${build}.log" 2>&1 \
        || die "debootstrap failed; see ${build}.log (tail: $(tail -n 3 "${build}.log" 2>/dev/null | tr '\n' ' '))"
    rm -f "${build}.log"
    [[ -x "$build$PG_BIN/postgres" ]] || die "postgres $PG_MAJOR binaries missing in $build"
    compgen -G "$build/usr/lib/postgresql/$PG_MAJOR/lib/timescaledb*.so" >/dev/null \
        || die "timescaledb library missing in $build"
    [[ -d "$CHROOT" ]] && { unmount_all "$CHROOT"; rm -rf --one-file-system "$CHROOT"; }
    mv "$build" "$CHROOT"
    init_cluster
    touch "$READY_MARK"
    say "chroot ready at $CHROOT"
}

init_cluster() {
    say "initdb $PGDATA_IN_CHROOT"
    in_chroot install -d -o postgres -g postgres -m 0700 "$PGDATA_IN_CHROOT"
    in_chroot install -d -o postgres -g postgres -m 0755 /var/log/postgresql /var/run/postgresql
    as_postgres "$PG_BIN/initdb" -D "$PGDATA_IN_CHROOT" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    # Settings live in fleet_lane.conf, rewritten by every `start`, so a cached chroot picks up changes.
    echo "include_if_exists = 'fleet_lane.conf'" >>"$CHROOT$PGDATA_IN_CHROOT/postgresql.conf"
}

write_lane_config() {
    # Listening address and port are passed by `start`; everything else the lane needs is here.
    cat >"$CHROOT$PGDATA_IN_CHROOT/fleet_lane.conf" <<'CONF'
# Written by scripts/timescale_lane.sh on every start: edit the script, not this file.
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
# No job scheduler: the Apache edition has no policies to run, and its per-database workers would hold
# connections that make `CREATE DATABASE ... TEMPLATE` (the test fixtures' fast copies) fail.
timescaledb.max_background_workers = 0
max_worker_processes = 8
# A chroot has no /dev/shm mount: dynamic shared memory in files under the data directory instead.
dynamic_shared_memory_type = mmap
unix_socket_directories = '/var/run/postgresql'
# Test server only: durability is not the point, speed is.
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
    chroot "$CHROOT" chown postgres:postgres "$PGDATA_IN_CHROOT/fleet_lane.conf"
}

# /proc for the server's own introspection (ps, huge pages), /dev for null/urandom/zero.
mount_chroot() {
    mountpoint -q "$CHROOT/proc" || mount -t proc proc "$CHROOT/proc" || die "cannot mount /proc in $CHROOT"
    local dev
    for dev in null zero random urandom; do
        if [[ ! -c "$CHROOT/dev/$dev" ]]; then
            rm -f "$CHROOT/dev/$dev"
            touch "$CHROOT/dev/$dev"
            mount --bind "/dev/$dev" "$CHROOT/dev/$dev" || die "cannot bind /dev/$dev into $CHROOT"
        fi
    done
}

# Unmount everything mounted under a directory, deepest first.
unmount_all() {
    local root="$1" mp
    [[ -d "$root" ]] || return 0
    while read -r mp; do
        umount "$mp" 2>/dev/null || umount -l "$mp" || true
    done < <(awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r)
}

# The chroot shares the host's PID namespace: the postmaster's pid file is checked against the host's /proc.
server_running() {
    local pidfile="$CHROOT$PGDATA_IN_CHROOT/postmaster.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(head -n 1 "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres ]] || return 1
    # A killed postmaster may linger as a zombie until it is reaped: that is not a running server.
    [[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

port_taken() {
    "$PYTHON" - "$PORT" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

cmd_start() {
    require_root start
    [[ -f "$READY_MARK" ]] || die "no chroot at $CHROOT: run '$0 ensure' first"
    mount_chroot
    if server_running; then
        say "already running on 127.0.0.1:$PORT"
        return 0
    fi
    port_taken && die "port $PORT is taken by another process; set TIMESCALE_PORT to a free port"
    # Stale after a crash (the server is not running, the port is free). Removed from inside the chroot:
    # its /var/run is an absolute symlink that, seen from the host, would point at the host's /run.
    rm -f "$CHROOT$PGDATA_IN_CHROOT/postmaster.pid"
    in_chroot rm -f "/var/run/postgresql/.s.PGSQL.$PORT" "/var/run/postgresql/.s.PGSQL.$PORT.lock"
    in_chroot install -d -o postgres -g postgres -m 0755 /var/run/postgresql
    write_lane_config
    say "starting PostgreSQL $PG_MAJOR + TimescaleDB on 127.0.0.1:$PORT"
    if ! as_postgres "$PG_BIN/pg_ctl" start -w -t 60 -D "$PGDATA_IN_CHROOT" -l "$LOGFILE_IN_CHROOT" \
        -o "-p $PORT -c listen_addresses=127.0.0.1" >/dev/null; then
        tail -n 20 "$CHROOT$LOGFILE_IN_CHROOT" >&2 || true
        die "the server did not start (log: $CHROOT$LOGFILE_IN_CHROOT)"
    fi
    local _
    for _ in $(seq 1 60); do
        if as_postgres "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
            say "ready: host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
            return 0
        fi
        sleep 0.5
    done
    die "the server started but does not accept connections on 127.0.0.1:$PORT"
}

cmd_stop() {
    require_root stop
    if [[ -f "$READY_MARK" ]] && server_running; then
        as_postgres "$PG_BIN/pg_ctl" stop -w -t 60 -m fast -D "$PGDATA_IN_CHROOT" >/dev/null \
            || die "pg_ctl stop failed (log: $CHROOT$LOGFILE_IN_CHROOT)"
        say "stopped"
    else
        say "not running"
    fi
    unmount_all "$CHROOT"
}

cmd_status() {
    if [[ -f "$READY_MARK" ]] && server_running; then
        say "running on 127.0.0.1:$PORT"
    else
        say "not running"
        return 3
    fi
}

cmd_test() {
    require_root test
    [[ -x "$PYTHON" ]] || die "no Python at $PYTHON (create the venv first, or set PYTHON)"
    local t
    for t in $TIMESCALE_LANE_TESTS; do
        [[ -e "$REPO_ROOT/$t" ]] || die "lane test module $t does not exist (edit TIMESCALE_LANE_TESTS in $0)"
    done
    cmd_ensure
    cmd_start
    trap 'cmd_stop || true' EXIT
    export FLEET_PG_ADMIN_DSN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
    export FLEET_REQUIRE_TIMESCALE=1
    cd "$REPO_ROOT"
    local pytest=("$PYTHON" -m pytest -p no:cacheprovider)
    say "pytest -m timescale $TIMESCALE_MARKED_PATHS"
    # shellcheck disable=SC2086  # word splitting of the path lists is intended
    "${pytest[@]}" -m timescale $TIMESCALE_MARKED_PATHS || die "timescale-marked tests failed"
    say "pytest $TIMESCALE_LANE_TESTS (the database tests, against TimescaleDB)"
    local rc=0
    # shellcheck disable=SC2086
    "${pytest[@]}" -m "not timescale" $TIMESCALE_LANE_TESTS || rc=$?
    # 5 = every test of those modules was already run above under the marker: not a failure.
    [[ $rc == 0 || $rc == 5 ]] || die "database tests failed against TimescaleDB (pytest exit $rc)"
    say "passed"
}

case "${1:-}" in
    ensure) cmd_ensure ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    test) cmd_test ;;
    *) echo "usage: $0 {ensure|start|stop|status|test}" >&2; exit 2 ;;
esac
