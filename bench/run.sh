#!/usr/bin/env bash
# Kauri platform benchmark: builds release binaries, starts a bare Hummingbird server and Kauri (SQLite, and
# PostgreSQL when POSTGRES_URL is set) one at a time, drives each with kauri-load, and prints one table.
#
# Server and load driver are pinned to different cores (taskset -c 0 / -c 1) when taskset exists.
# Environment: DURATION (s, default 10), WARMUP (s, default 3), CONNECTIONS (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-18080}
HELLO_PORT=${HELLO_PORT:-18090}
SERVER_CPU=""
LOAD_CPU=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU="taskset -c 0"
    LOAD_CPU="taskset -c 1"
fi

swift build -c release --product kauri >&2
swift build -c release --product kauri-load >&2
swift build -c release --product kauri-hello >&2
BIN=$(swift build -c release --show-bin-path)

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Waits until GET /healthz answers; prints the milliseconds since $1 (a nanosecond timestamp).
wait_ready() {
    local started=$1 port=$2
    python3 - "$started" "$port" <<'PY'
import sys, time, socket
started, port = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 30
while time.time() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if s.recv(12).startswith(b"HTTP/1.1 200"):
            print(f"{(time.time_ns() - started) / 1e6:.0f}")
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.002)
sys.exit("server did not become ready")
PY
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

load() {  # label url
    $LOAD_CPU "$BIN/kauri-load" --url "$2" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
        --label "$1" --json
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

# 1. Bare Hummingbird: the ceiling our middleware stack is compared with.
$SERVER_CPU "$BIN/kauri-hello" "$HELLO_PORT" >/dev/null 2>&1 &
SERVER_PID=$!
wait_ready "$(date +%s%N)" "$HELLO_PORT" >/dev/null
load "hello /healthz" "http://127.0.0.1:$HELLO_PORT/healthz" >> "$RESULTS"
stop_server

# 2. Kauri on a fresh SQLite file.
run_kauri() {  # label-suffix [env...]
    local suffix=$1; shift
    local started
    started=$(date +%s%N)
    env "$@" KAURI_DATA_DIR="$WORK/data-$suffix" KAURI_PORT="$PORT" $SERVER_CPU "$BIN/kauri" serve >"$WORK/kauri-$suffix.log" 2>&1 &
    SERVER_PID=$!
    local ready_ms
    ready_ms=$(wait_ready "$started" "$PORT")
    sleep 2
    local rss
    rss=$(rss_mb "$SERVER_PID")
    echo "{\"label\":\"start→ready ($suffix)\",\"ready_ms\":$ready_ms,\"idle_rss_mb\":$rss}" >> "$RESULTS"
    load "kauri /healthz ($suffix)" "http://127.0.0.1:$PORT/healthz" >> "$RESULTS"
    load "kauri /readyz ($suffix)" "http://127.0.0.1:$PORT/readyz" >> "$RESULTS"
    stop_server
}
run_kauri sqlite
if [ -n "${POSTGRES_URL:-}" ]; then
    run_kauri postgres DATABASE_URL="$POSTGRES_URL"
fi

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
hello = next(r for r in rows if r["label"] == "hello /healthz")
print(f"{'scenario':<28}{'req/s':>10}{'vs hello':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'errors':>8}")
for r in rows:
    if "throughput" in r:
        ratio = float(r["throughput"]) / float(hello["throughput"]) * 100
        print(f"{r['label']:<28}{float(r['throughput']):>10.0f}{ratio:>9.0f}%{float(r['p50_ms']):>9.3f}"
              f"{float(r['p90_ms']):>9.3f}{float(r['p99_ms']):>9.3f}{float(r['p999_ms']):>10.3f}{r['errors']:>8}")
for r in rows:
    if "ready_ms" in r:
        print(f"{r['label']}: {r['ready_ms']} ms; idle RSS {r['idle_rss_mb']} MB")
PY
