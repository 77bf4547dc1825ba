#!/usr/bin/env bash
# Confab against ejabberd (Debian's package) and a bare WebSocket relay, on one machine:
# server pinned to one core, load generator to another, everything on loopback.
#
#   bash bench/run.sh           # three runs of every scenario, writes bench/RESULTS.md
#   bash bench/run.sh --quick   # one run each, idle at 1k and 5k only, presence at 2k users
#     and 200 publishes/s, groups of up to 1,000, a room of 1,000: a smoke test
#   options: --runs N, --idle "1000 19000" (connection counts), --out FILE, --keep (temp dir)
#   --only room,group: only these scenarios (idle, pingpong, multidevice, presence, group,
#     group-offline, room, flush-floor, offline), and only what they need prepared
#   --baseline DIR: also run every Confab scenario against the `confab` and `load` release
#     binaries in DIR (an earlier commit's target/release), alternating with this build, for
#     a before/after on one host in one sitting (column "baseline" in RESULTS.md)
#
# Scenarios: idle, pingpong, offline against all three servers (the relay has no offline);
# multidevice (users with several sessions each), presence (subscribers told of status
# changes), group (a group's members online, one sender), group-offline (members catching
# up on a group's messages at login) and room (a chat room's members joining at once, then
# 1 % of them sending) against Confab only; flush-floor, no server.
#
# Installs what is missing (ejabberd from Debian without starting its system service,
# python3), builds the release binaries, runs, aggregates with python3. Every wait is bounded;
# every load run has a timeout. See bench/README.md for what is measured and how.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COMMAND="bash bench/run.sh${*:+ $*}"

QUICK=0
KEEP=0
OUT="$ROOT/bench/RESULTS.md"
RUNS_ARG=""
BASELINE=""
IDLE_ARG=""
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --runs) RUNS_ARG="$2"; shift ;;
        --idle) IDLE_ARG="$2"; shift ;;
        --keep) KEEP=1 ;;              # keep the temp dir (logs, data) for inspection
        --out) OUT="$2"; shift ;;      # write the results elsewhere than bench/RESULTS.md
        --baseline) BASELINE="$(cd "$2" && pwd)"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$QUICK" = 1 ]; then
    RUNS=1
    IDLE_COUNTS=(1000 5000)
    PRESENCE_USERS=2000
    PRESENCE_RATE=200
    GROUP_SPECS=(10:100 200:100 1000:20)
    GROUP_OFFLINE_MEMBERS=1000
    GROUP_OFFLINE_MESSAGES=200
    ROOM_MEMBERS=1000
else
    RUNS=3
    IDLE_COUNTS=(1000 5000 10000 19000)
    PRESENCE_USERS=10000               # all online, each subscribed to PRESENCE_SUBSCRIPTIONS
    PRESENCE_RATE=1000                 # publishes/s over REST, spread over the users
    # group: MEMBERS:MSGS_PER_SEC, one group and one run of the scenario each (all members
    # online, the owner sending at that rate; every message is owed to MEMBERS - 1).
    GROUP_SPECS=(10:100 200:100 3000:20)
    GROUP_OFFLINE_MEMBERS=3000         # the owner sends, the other 2,999 catch up
    GROUP_OFFLINE_MESSAGES=1000
    ROOM_MEMBERS=10000                 # one room, every member online (config max_room_members caps it)
fi
ROOM_RATE=$((ROOM_MEMBERS / 100))      # msgs/s: one per second per 100 members (1 % send, 1/s each)
[ "$ROOM_RATE" -ge 1 ] || ROOM_RATE=1
# ROOM_RATES (environment): several rates, one room run each (e.g. "100 20": the issue's rate,
# and one the server's core can carry, for its latency).
ROOM_RATES=${ROOM_RATES:-$ROOM_RATE}
[ -z "$RUNS_ARG" ] || RUNS="$RUNS_ARG"
[ -z "$IDLE_ARG" ] || read -r -a IDLE_COUNTS <<<"$IDLE_ARG"
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || { echo "--runs: 1 to 99" >&2; exit 2; }
SCENARIOS="idle pingpong multidevice presence group group-offline room flush-floor offline"
for scenario in ${ONLY//,/ }; do
    [[ " $SCENARIOS " == *" $scenario "* ]] || { echo "--only: scenarios among: $SCENARIOS" >&2; exit 2; }
done
wants() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
NEED_EJABBERD=0                        # only idle, pingpong and offline run against ejabberd
for scenario in idle pingpong offline; do
    if wants "$scenario"; then NEED_EJABBERD=1; fi
done
for count in "${IDLE_COUNTS[@]}"; do
    [[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "--idle: positive connection counts" >&2; exit 2; }
done
if [ -n "$BASELINE" ]; then
    for binary in confab load; do
        [ -x "$BASELINE/$binary" ] || { echo "--baseline: no $binary in $BASELINE" >&2; exit 2; }
    done
    CONFABS=(confab baseline)
else
    CONFABS=(confab)
fi
PRESENCE_CONFABS=(confab)              # and the baseline, if it has presence (below)
GROUP_CONFABS=(confab)                 # and the baseline, if it has groups (below)
ROOM_CONFABS=(confab)                  # and the baseline, if it has rooms (below)
PAIRS=100
MULTIDEVICE_USERS=100                  # paired; each with MULTIDEVICE_DEVICES sessions
MULTIDEVICE_DEVICES=3
MULTIDEVICE_DRAIN_SECS=3               # after the measured window, for the copies still owed
PRESENCE_SUBSCRIPTIONS=100             # per user: each publish is owed to 100 subscribers
PRESENCE_HTTP=64                       # keep-alive REST connections the publishes share
GROUP_DRAIN_SECS=5                     # after the measured window, for the copies still owed
ROOM_DRAIN_SECS=10                     # longer than a full backlog takes to drain: a copy missing then was dropped
ROOM_JOIN_TIMEOUT=480                  # seconds, for the whole join storm
ROOM_TIMEOUT=720                       # seconds, for one room run (its join storm is long)
WARMUP_SECS=2
MEASURE_SECS=8
OFFLINE_MESSAGES=10000
IN_FLIGHT=64
LOAD_TIMEOUT=300                       # seconds, for any one load run
CONFAB_ADDR=127.0.0.1:15280
RELAY_ADDR=127.0.0.1:15290
XMPP_ADDR=127.0.0.1:5222               # as in bench/ejabberd/ejabberd.yml
MAX_IDLE=0
for count in "${IDLE_COUNTS[@]}"; do [ "$count" -le "$MAX_IDLE" ] || MAX_IDLE=$count; done
MAX_CONNECTIONS=$MAX_IDLE
[ $((PRESENCE_USERS + PRESENCE_HTTP)) -le "$MAX_CONNECTIONS" ] || MAX_CONNECTIONS=$((PRESENCE_USERS + PRESENCE_HTTP))
MAX_GROUP=$GROUP_OFFLINE_MEMBERS
GROUP_SIZES=""                         # "10,200,3000": what seed-groups creates per run
for spec in "${GROUP_SPECS[@]}"; do
    size=${spec%%:*}
    [[ "$spec" =~ ^[1-9][0-9]*:[0-9.]+$ && "$size" -ge 2 ]] || { echo "GROUP_SPECS: MEMBERS:RATE" >&2; exit 2; }
    [ "$size" -le "$MAX_GROUP" ] || MAX_GROUP=$size
    GROUP_SIZES="${GROUP_SIZES:+$GROUP_SIZES,}$size"
done
[ "$MAX_GROUP" -le "$MAX_CONNECTIONS" ] || MAX_CONNECTIONS=$MAX_GROUP
[ "$ROOM_MEMBERS" -le "$MAX_CONNECTIONS" ] || MAX_CONNECTIONS=$ROOM_MEMBERS

export RUST_BACKTRACE=0
export CONFAB_LOG=warn

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- what the run needs ----------------------------------------------------------------------

install_ejabberd() {
    # Debian starts a newly installed service; a policy-rc.d that answers 101 ("action
    # forbidden") keeps the packaged ejabberd (which listens on every interface) from starting.
    local created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    log "installing ejabberd from Debian's packages"
    local status=0
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends ejabberd >/dev/null || status=$?
    [ "$created_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
    [ "$status" = 0 ] || die "apt-get install ejabberd failed"
    # Should a system service have started anyway, stop it: ours runs from bench/ejabberd/.
    if command -v systemctl >/dev/null && systemctl is-active --quiet ejabberd 2>/dev/null; then
        $SUDO systemctl stop ejabberd
        $SUDO systemctl disable --quiet ejabberd || true
    fi
}

if [ "$NEED_EJABBERD" = 1 ]; then
    dpkg-query -W -f='${Status}' ejabberd 2>/dev/null | grep -q "install ok installed" || install_ejabberd
fi
command -v python3 >/dev/null || {
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-minimal >/dev/null
}
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v cargo >/dev/null || die "cargo is missing: install a Rust toolchain first"
if [ "$NEED_EJABBERD" = 1 ]; then
    EJABBERD_LIBS=$(dirname "$(find /usr/lib -maxdepth 3 -type d -name 'ejabberd-[0-9]*' | head -n 1)")
    [ -d "$EJABBERD_LIBS" ] || die "cannot find ejabberd's Erlang libraries under /usr/lib"
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt "$MAX_CONNECTIONS" ] || die "open-file limit $(ulimit -n) is below $MAX_CONNECTIONS connections"

# Back-to-back runs of 19,000 connections each leave their ports in TIME_WAIT; the next run
# reuses them only with tcp_tw_reuse (Linux's default, 2, enables it for loopback).
[ "$(cat /proc/sys/net/ipv4/tcp_tw_reuse 2>/dev/null || echo 2)" != 0 ] \
    || log "warning: net.ipv4.tcp_tw_reuse=0: large idle runs may run out of local ports"

if [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=0
    LOADER_CPU=1
else
    log "warning: one CPU: server and loader share it"
    SERVER_CPU=0
    LOADER_CPU=0
fi

ADDRS=("$CONFAB_ADDR")
[ "$NEED_EJABBERD" = 0 ] || ADDRS+=("$RELAY_ADDR" "$XMPP_ADDR")
for addr in "${ADDRS[@]}"; do
    if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then
        die "$addr is already taken (a system ejabberd? stop it first)"
    fi
done

log "building (cargo build --release -p confab-bench -p confab-server)"
cargo build --release --quiet -p confab-bench -p confab-server
BIN="$ROOT/target/release"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/confab-bench.XXXXXX")
SERVER_PID=""
cleanup() {
    stop_server
    if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- servers ---------------------------------------------------------------------------------

wait_for_port() { # addr: up to 60 s, while the server lives
    local addr=$1
    for _ in $(seq 600); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

start_server() { # confab|ejabberd|relay: a fresh process, pinned to SERVER_CPU
    stop_server
    case "$1" in
        confab)
            (exec taskset -c "$SERVER_CPU" "$BIN/confab" serve --config "$WORK/confab.toml" \
                </dev/null >>"$WORK/confab.log" 2>&1) &
            SERVER_PID=$!
            wait_for_port "$CONFAB_ADDR" || { tail -n 20 "$WORK/confab.log" >&2; die "confab did not start"; }
            ;;
        baseline)
            (exec taskset -c "$SERVER_CPU" "$BASELINE/confab" serve --config "$WORK/baseline.toml" \
                </dev/null >>"$WORK/baseline.log" 2>&1) &
            SERVER_PID=$!
            wait_for_port "$CONFAB_ADDR" || { tail -n 20 "$WORK/baseline.log" >&2; die "the baseline did not start"; }
            ;;
        relay)
            (exec taskset -c "$SERVER_CPU" "$BIN/relay" --listen "$RELAY_ADDR" \
                </dev/null >>"$WORK/relay.log" 2>&1) &
            SERVER_PID=$!
            wait_for_port "$RELAY_ADDR" || { tail -n 20 "$WORK/relay.log" >&2; die "relay did not start"; }
            ;;
        ejabberd)
            # The VM runs without a node name: no Erlang distribution, so no epmd registration,
            # no distribution port and no cookie (RabbitMQ's epmd and node are left alone).
            # The exec chain taskset -> erl -> erlexec -> beam.smp keeps one pid: the probe's.
            (cd "$WORK/ejabberd/spool" && exec taskset -c "$SERVER_CPU" env \
                EJABBERD_CONFIG_PATH="$ROOT/bench/ejabberd/ejabberd.yml" \
                EJABBERD_LOG_PATH="$WORK/ejabberd/logs/ejabberd.log" \
                ERL_LIBS="$EJABBERD_LIBS" ERL_CRASH_DUMP="$WORK/ejabberd/logs/erl_crash.dump" \
                ERL_CRASH_DUMP_BYTES=0 ERL_MAX_PORTS=65536 \
                erl -noinput +P 1000000 +Q 65536 -mnesia dir "\"$WORK/ejabberd/spool\"" \
                -s ejabberd </dev/null >>"$WORK/ejabberd/logs/stdout.log" 2>&1) &
            SERVER_PID=$!
            wait_for_port "$XMPP_ADDR" || {
                tail -n 20 "$WORK/ejabberd/logs/stdout.log" >&2
                die "ejabberd did not start"
            }
            ;;
    esac
    [ "$(ps -o comm= -p "$SERVER_PID")" != taskset ] || die "taskset did not exec"
    wait_until_quiet
}

cpu_ticks() { # the server's user + system time so far, in clock ticks (all its threads)
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0
}

# Every scenario starts on a quiet server: a server that is still doing an earlier run's
# deferred work (Confab indexing history, a checkpoint) would charge it to this one. Quiet:
# at most 2 ticks (20 ms) of CPU in half a second. At most 60 s; a server that never gets
# quiet is measured anyway, with a note in the log.
wait_until_quiet() {
    local before after waited=0
    before=$(cpu_ticks)
    while [ "$waited" -lt 120 ]; do
        sleep 0.5
        after=$(cpu_ticks)
        [ $((after - before)) -le 2 ] && { [ "$waited" -lt 2 ] || log "  quiet after $((waited / 2)) s"; return 0; }
        before=$after
        waited=$((waited + 1))
    done
    log "  still busy after 60 s; measuring anyway"
}

addr_of() {
    case "$1" in confab | baseline) echo "$CONFAB_ADDR" ;; ejabberd) echo "$XMPP_ADDR" ;; relay) echo "$RELAY_ADDR" ;; esac
}
target_of() {
    case "$1" in confab | baseline) echo confab ;; ejabberd) echo xmpp ;; relay) echo relay ;; esac
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
FAILURES=0

# record SERVER SCENARIO CPU [ARGS...]: one run of the loader's subcommand for SCENARIO
# (flush_floor: flush-floor) pinned to CPU, its JSON line appended to RESULTS (or a failure
# record).
record() {
    local server=$1 scenario=$2 cpu=$3
    shift 3
    local line status=0
    line=$(timeout "$LOAD_TIMEOUT" taskset -c "$cpu" "$BIN/load" "${scenario//_/-}" "$@" \
        2>>"$WORK/load.log") || status=$?
    if [ "$status" = 0 ] && [ -n "$line" ]; then
        # The loader names its target (`confab`); the baseline is another build of it.
        [ "$server" != baseline ] || line=${line/\"server\":\"confab\"/\"server\":\"baseline\"}
        echo "$line" >>"$RESULTS"
        log "  $line"
    else
        FAILURES=$((FAILURES + 1))
        log "  FAILED ($server $scenario $*, exit $status): $(tail -n 1 "$WORK/load.log")"
        printf '{"scenario":"%s","server":"%s","failed":true,"exit":%s}\n' "$scenario" "$server" "$status" >>"$RESULTS"
    fi
}

# load SERVER SCENARIO [ARGS...]: one run of the loader against SERVER.
load() {
    local server=$1 scenario=$2
    shift 2
    record "$server" "$scenario" "$LOADER_CPU" \
        --target "$(target_of "$server")" --addr "$(addr_of "$server")" "$@"
}

# --- preparation -----------------------------------------------------------------------------

log "work dir $WORK; server on CPU $SERVER_CPU, loader on CPU $LOADER_CPU; runs: $RUNS"

# Confab: an app, token-only users written into the stopped server's store, a config file.
CONFAB_DATA="$WORK/confab-data"
app_json=$("$BIN/confab" app create --org bench --name bench --data-dir "$CONFAB_DATA")
eval "$(python3 -c '
import json, shlex, sys
app = json.loads(sys.stdin.read())
for env, key in (("CONFAB_APP_KEY", "appKey"), ("CONFAB_APP_ID", "appId"),
                 ("CONFAB_APP_CERTIFICATE", "appCertificate")):
    print("export %s=%s" % (env, shlex.quote(app[key])))
' <<<"$app_json")"
seed() { "$BIN/load" seed-users --data-dir "$CONFAB_DATA" --app-key "$CONFAB_APP_KEY" --prefix "$1" --count "$2" 2>>"$WORK/load.log"; }
# seed_all SEED: the users of the scenarios run, with SEED PREFIX COUNT.
seed_all() {
    local seed=$1
    if wants idle; then "$seed" u "$MAX_IDLE"; fi
    for run in $(seq "$RUNS"); do
        if wants pingpong; then "$seed" "p${run}_" $((PAIRS * 2)); fi
        if wants multidevice; then "$seed" "m${run}_" "$MULTIDEVICE_USERS"; fi
        if wants offline; then "$seed" "o${run}_" 2; fi
        if wants group; then "$seed" "g${run}_" "$MAX_GROUP"; fi
        if wants group-offline; then "$seed" "f${run}_" "$GROUP_OFFLINE_MEMBERS"; fi
        if wants room; then "$seed" "r${run}_" "$ROOM_MEMBERS"; fi
    done
}
seed_all seed
# Presence: one set for every run (its own prefix: a login of `u…` would otherwise notify
# subscribers in the idle runs). A run's publishes carry a stamp of their own, so what an
# earlier run published and a login repeats is not counted.
seed_presence() { # BIN_DIR DATA_DIR: with that build's own loader (its store's schema)
    "$1/load" seed-users --data-dir "$2" --app-key "$CONFAB_APP_KEY" --prefix s \
        --count "$PRESENCE_USERS" 2>>"$WORK/load.log"
    "$1/load" seed-presence --data-dir "$2" --app-key "$CONFAB_APP_KEY" --prefix s \
        --count "$PRESENCE_USERS" --per-user "$PRESENCE_SUBSCRIPTIONS" 2>>"$WORK/load.log"
}
if wants presence; then seed_presence "$BIN" "$CONFAB_DATA"; fi
cat >"$WORK/confab.toml" <<EOF
listen = "$CONFAB_ADDR"
data_dir = "$CONFAB_DATA"
max_connections = 100000

# The loader's 19k connections come from 8 addresses; its seeding is REST as fast as it goes.
[http]
max_connections_per_ip = 100000
rest_requests_per_sec = 0
EOF

# The baseline: a store of its own, made and seeded by its own binaries (its schema may be
# older), for the same app and users; a config with only the keys every version knows.
if [ -n "$BASELINE" ]; then
    BASELINE_DATA="$WORK/baseline-data"
    "$BASELINE/confab" app create --org bench --name bench --data-dir "$BASELINE_DATA" \
        --app-id "$CONFAB_APP_ID" --app-certificate "$CONFAB_APP_CERTIFICATE" >/dev/null
    seed_baseline() {
        "$BASELINE/load" seed-users --data-dir "$BASELINE_DATA" --app-key "$CONFAB_APP_KEY" \
            --prefix "$1" --count "$2" 2>>"$WORK/load.log"
    }
    seed_all seed_baseline
    # Presence only against a baseline that has it (an older loader has no seed-presence).
    if ! wants presence; then
        :
    elif "$BASELINE/load" seed-presence --help >/dev/null 2>&1; then
        seed_presence "$BASELINE" "$BASELINE_DATA"
        PRESENCE_CONFABS=(confab baseline)
    else
        log "the baseline has no presence: the presence scenario runs against this build only"
    fi
    printf 'listen = "%s"\ndata_dir = "%s"\nmax_connections = 100000\n' \
        "$CONFAB_ADDR" "$BASELINE_DATA" >"$WORK/baseline.toml"
    # A baseline that caps connections per address (and REST requests) knows these keys.
    if grep -qa max_connections_per_ip "$BASELINE/confab"; then
        printf '[http]\nmax_connections_per_ip = 100000\nrest_requests_per_sec = 0\n' \
            >>"$WORK/baseline.toml"
    fi
fi

# Groups: over REST with an app token (`load seed-groups`), in each Confab build's own store,
# before the runs (each run then starts on a fresh, quiet server). Per run: groups of every
# GROUP_SPECS size among g{run}_0.. (owner g{run}_0), and one of GROUP_OFFLINE_MEMBERS among
# f{run}_0.. (owner f{run}_0). Ids in GROUP_IDS[server:run:size], GROUP_OFFLINE_IDS[server:run].
declare -A GROUP_IDS GROUP_OFFLINE_IDS
if [ -n "$BASELINE" ]; then
    if "$BASELINE/load" seed-groups --help >/dev/null 2>&1; then
        GROUP_CONFABS=(confab baseline)
    else
        log "the baseline has no groups: the group scenarios run against this build only"
    fi
    if "$BASELINE/load" room --help >/dev/null 2>&1; then
        ROOM_CONFABS=(confab baseline)
    else
        log "the baseline has no rooms: the room scenario runs against this build only"
    fi
fi
seed_groups() { # SERVER PREFIX SIZES: prints "SIZE ID" lines
    local bin=$BIN
    [ "$1" != baseline ] || bin=$BASELINE
    timeout "$LOAD_TIMEOUT" taskset -c "$LOADER_CPU" "$bin/load" seed-groups --target confab \
        --addr "$CONFAB_ADDR" --prefix "$2" --sizes "$3" 2>>"$WORK/load.log" \
        || die "creating groups of $2 on $1 failed: $(tail -n 1 "$WORK/load.log")"
}
wants group || wants group-offline || GROUP_CONFABS=()
for server in "${GROUP_CONFABS[@]}"; do
    log "creating groups (sizes $GROUP_SIZES and $GROUP_OFFLINE_MEMBERS, per run) on $server"
    start_server "$server"
    for run in $(seq "$RUNS"); do
        if wants group; then
            seeded=$(seed_groups "$server" "g${run}_" "$GROUP_SIZES")
            while read -r size id; do
                GROUP_IDS["$server:$run:$size"]=$id
            done <<<"$seeded"
        fi
        if wants group-offline; then
            seeded=$(seed_groups "$server" "f${run}_" "$GROUP_OFFLINE_MEMBERS")
            GROUP_OFFLINE_IDS["$server:$run"]=${seeded#* }
        fi
    done
done
stop_server

# ejabberd: a spool of its own; the same users, by in-band registration.
PEER_SERVERS=()
if [ "$NEED_EJABBERD" = 1 ]; then
    PEER_SERVERS=(ejabberd relay)
    mkdir -p "$WORK/ejabberd/spool" "$WORK/ejabberd/logs"
    start_server ejabberd
    register() {
        timeout "$LOAD_TIMEOUT" taskset -c "$LOADER_CPU" "$BIN/load" register-xmpp --target xmpp \
            --addr "$XMPP_ADDR" --prefix "$1" --count "$2" 2>>"$WORK/load.log" \
            || die "registering $1 on ejabberd failed: $(tail -n 1 "$WORK/load.log")"
    }
    log "registering ${MAX_IDLE} + $((RUNS * (PAIRS * 2 + 2))) users on ejabberd"
    register u "$MAX_IDLE"
    for run in $(seq "$RUNS"); do
        register "p${run}_" $((PAIRS * 2))
        register "o${run}_" 2
    done
    stop_server
fi

STARTED=$(date +%s)

# --- scenarios: every run on a fresh server process ------------------------------------------

if wants idle; then
    for connections in "${IDLE_COUNTS[@]}"; do
        for run in $(seq "$RUNS"); do
            for server in "${CONFABS[@]}" "${PEER_SERVERS[@]}"; do
                log "idle $connections, run $run, $server"
                start_server "$server"
                load "$server" idle --prefix u --connections "$connections" --server-pid "$SERVER_PID"
            done
        done
    done
fi

if wants pingpong; then
    for run in $(seq "$RUNS"); do
        for server in "${CONFABS[@]}" "${PEER_SERVERS[@]}"; do
            log "pingpong $PAIRS pairs, run $run, $server"
            start_server "$server"
            load "$server" pingpong --prefix "p${run}_" --pairs "$PAIRS" --warmup-secs "$WARMUP_SECS" \
                --measure-secs "$MEASURE_SECS" --server-pid "$SERVER_PID"
        done
    done
fi

# Confab only: multi-device sync is msync's (ejabberd would need carbons, the relay has no users).
if wants multidevice; then
    for run in $(seq "$RUNS"); do
        for server in "${CONFABS[@]}"; do
            log "multidevice $MULTIDEVICE_USERS users x $MULTIDEVICE_DEVICES devices, run $run, $server"
            start_server "$server"
            load "$server" multidevice --prefix "m${run}_" --users "$MULTIDEVICE_USERS" \
                --devices "$MULTIDEVICE_DEVICES" --warmup-secs "$WARMUP_SECS" \
                --measure-secs "$MEASURE_SECS" --drain-secs "$MULTIDEVICE_DRAIN_SECS" \
                --server-pid "$SERVER_PID"
        done
    done
fi

# Confab only: the relay has no users, and ejabberd's presence goes to roster contacts as the
# publisher's own stanza, with no subscription list of its own nor a REST publish to time. Every
# user online, every publish owed to PRESENCE_SUBSCRIPTIONS of them.
if wants presence; then
    for run in $(seq "$RUNS"); do
        for server in "${PRESENCE_CONFABS[@]}"; do
            log "presence $PRESENCE_USERS users x $PRESENCE_SUBSCRIPTIONS subscriptions, $PRESENCE_RATE publishes/s, run $run, $server"
            start_server "$server"
            load "$server" presence --prefix s --users "$PRESENCE_USERS" \
                --subscriptions-per-user "$PRESENCE_SUBSCRIPTIONS" --publishes-per-sec "$PRESENCE_RATE" \
                --http-connections "$PRESENCE_HTTP" --warmup-secs "$WARMUP_SECS" \
                --measure-secs "$MEASURE_SECS" --server-pid "$SERVER_PID"
        done
    done
fi

# Confab only: ejabberd would need MUC (see bench/README.md), the relay has no groups. Every
# member of the group online, the owner sending at the spec's rate.
if wants group; then
    for spec in "${GROUP_SPECS[@]}"; do
        size=${spec%%:*}
        rate=${spec#*:}
        for run in $(seq "$RUNS"); do
            for server in "${GROUP_CONFABS[@]}"; do
                log "group of $size, $rate msgs/s, run $run, $server"
                start_server "$server"
                load "$server" group --prefix "g${run}_" --group "${GROUP_IDS[$server:$run:$size]}" \
                    --members "$size" --msgs-per-sec "$rate" --warmup-secs "$WARMUP_SECS" \
                    --measure-secs "$MEASURE_SECS" --drain-secs "$GROUP_DRAIN_SECS" \
                    --server-pid "$SERVER_PID"
            done
        done
    done
fi

# Confab only: the owner sends while every other member is offline, then they all log in.
if wants group-offline; then
    for run in $(seq "$RUNS"); do
        for server in "${GROUP_CONFABS[@]}"; do
            log "group-offline $GROUP_OFFLINE_MEMBERS members, $GROUP_OFFLINE_MESSAGES messages, run $run, $server"
            start_server "$server"
            load "$server" group_offline --prefix "f${run}_" --group "${GROUP_OFFLINE_IDS[$server:$run]}" \
                --members "$GROUP_OFFLINE_MEMBERS" --messages "$GROUP_OFFLINE_MESSAGES" \
                --in-flight "$IN_FLIGHT" --server-pid "$SERVER_PID"
        done
    done
fi

# Confab only: ejabberd would need MUC (see bench/README.md), the relay has no rooms. Every
# member of one room online (the loader creates the room over REST), all joining it at once
# (the join storm), then 1 % of the members sending, ROOM_RATE msgs/s in all.
if wants room; then
    for run in $(seq "$RUNS"); do
        for rate in $ROOM_RATES; do
            for server in "${ROOM_CONFABS[@]}"; do
                log "room of $ROOM_MEMBERS, $rate msgs/s, run $run, $server"
                start_server "$server"
                LOAD_TIMEOUT=$ROOM_TIMEOUT load "$server" room --prefix "r${run}_" \
                    --members "$ROOM_MEMBERS" --rate "$rate" --warmup-secs "$WARMUP_SECS" \
                    --measure-secs "$MEASURE_SECS" --drain-secs "$ROOM_DRAIN_SECS" \
                    --join-timeout-secs "$ROOM_JOIN_TIMEOUT" --server-pid "$SERVER_PID"
            done
        done
    done
fi

# No server: the disk's floor for a durable ack, on the server's core, beside Confab's data.
if wants flush-floor; then
    stop_server
    for run in $(seq "$RUNS"); do
        log "flush floor, run $run"
        record disk flush_floor "$SERVER_CPU" --dir "$WORK" --secs "$MEASURE_SECS"
    done
fi

if wants offline; then
    for run in $(seq "$RUNS"); do
        for server in "${CONFABS[@]}" "${PEER_SERVERS[@]::1}"; do
            log "offline $OFFLINE_MESSAGES messages, run $run, $server"
            start_server "$server"
            load "$server" offline --prefix "o${run}_" --messages "$OFFLINE_MESSAGES" --in-flight "$IN_FLIGHT"
        done
    done
fi
stop_server

ELAPSED=$(($(date +%s) - STARTED))
log "scenarios took ${ELAPSED}s"

# --- RESULTS.md ------------------------------------------------------------------------------

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git status --porcelain 2>/dev/null)" ] || commit="$commit (dirty)"
export BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" BENCH_COMMIT="$commit" BENCH_COMMAND="$COMMAND"
export BENCH_ELAPSED="$ELAPSED" BENCH_RUNS="$RUNS" BENCH_SERVER_CPU="$SERVER_CPU" BENCH_LOADER_CPU="$LOADER_CPU"
export BENCH_NPROC="$(nproc)"
export BENCH_BASELINE=""
if [ -n "$BASELINE" ]; then
    BENCH_BASELINE="$BASELINE (commit $(git -C "$BASELINE" rev-parse --short HEAD 2>/dev/null || echo "?"))"
fi
export BENCH_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
export BENCH_RAM="$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
export BENCH_KERNEL="$(uname -sr)"
export BENCH_RUSTC="$(rustc --version)"
export BENCH_EJABBERD="not run"
if [ "$NEED_EJABBERD" = 1 ]; then
    BENCH_EJABBERD="$(dpkg-query -W -f='${Version}' ejabberd) (Debian), Erlang/OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')"
fi
export BENCH_ONLY="$ONLY"
python3 "$ROOT/bench/results.py" "$RESULTS" >"$OUT"
log "wrote $OUT"
[ "$FAILURES" = 0 ] || die "$FAILURES load runs failed (see $OUT)"
