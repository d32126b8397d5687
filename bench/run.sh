#!/usr/bin/env bash
# Kauri platform benchmark: builds release binaries, starts a bare Hummingbird server and Kauri (SQLite, and
# PostgreSQL when POSTGRES_URL is set) one at a time, drives each with kauri-load, and prints one table.
#
# Server and load driver are pinned to different cores (taskset -c 0 / -c 1) when taskset exists.
# Each scenario runs ROUNDS times, the bare server and Kauri interleaved, and the table shows the median round,
# so a neighbour's burst on a shared machine moves one round, not the result. Server CPU per request (user +
# system time of the server process over the measured run) is printed too: it depends far less on noise.
# Environment: DURATION (s, default 10), WARMUP (s, default 3), CONNECTIONS (default 64), ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

load() {  # label url: one JSON line with the load result and the server's CPU microseconds per request
    local before after result
    before=$(cpu_ticks "$SERVER_PID")
    result=$($LOAD_CPU "$BIN/kauri-load" --url "$2" --connections "$CONNECTIONS" --duration "$DURATION" \
        --warmup "$WARMUP" --label "$1" --json)
    after=$(cpu_ticks "$SERVER_PID")
    echo "${result%\}},\"server_cpu_ticks\":$((after - before)),\"clock_ticks\":$(getconf CLK_TCK),\"warmup\":$WARMUP}"
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

run_hello() {
    $SERVER_CPU "$BIN/kauri-hello" "$HELLO_PORT" >/dev/null 2>&1 &
    SERVER_PID=$!
    wait_ready "$(date +%s%N)" "$HELLO_PORT" >/dev/null
    load "hello /healthz" "http://127.0.0.1:$HELLO_PORT/healthz" >> "$RESULTS"
    stop_server
}

run_kauri() {  # label-suffix [env...]
    local suffix=$1; shift
    local started
    rm -rf "$WORK/data-$suffix"
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

for _ in $(seq 1 "$ROUNDS"); do
    run_hello
    run_kauri sqlite
    if [ -n "${POSTGRES_URL:-}" ]; then
        run_kauri postgres DATABASE_URL="$POSTGRES_URL"
    fi
done

python3 - "$RESULTS" "$ROUNDS" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def median_round(label):
    runs = sorted((r for r in rows if r["label"] == label), key=lambda r: float(r["throughput"]))
    return runs[len(runs) // 2]
labels = list(dict.fromkeys(r["label"] for r in rows if "throughput" in r))
hello = median_round("hello /healthz")
def cpu_us(r):
    # CPU was sampled over warm-up plus measurement; requests are counted over the measurement only.
    served = int(r["requests"]) * (int(r["seconds"]) + int(r["warmup"])) / int(r["seconds"])
    return r["server_cpu_ticks"] / r["clock_ticks"] * 1e6 / max(1, served)
print(f"median of {sys.argv[2]} rounds")
print(f"{'scenario':<28}{'req/s':>10}{'vs hello':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}"
      f"{'errors':>8}{'CPU µs/req':>12}")
for label in labels:
    r = median_round(label)
    ratio = float(r["throughput"]) / float(hello["throughput"]) * 100
    print(f"{label:<28}{float(r['throughput']):>10.0f}{ratio:>9.0f}%{float(r['p50_ms']):>9.3f}"
          f"{float(r['p90_ms']):>9.3f}{float(r['p99_ms']):>9.3f}{float(r['p999_ms']):>10.3f}{r['errors']:>8}"
          f"{cpu_us(r):>12.1f}")
for label in dict.fromkeys(r["label"] for r in rows if "ready_ms" in r):
    runs = [r for r in rows if r["label"] == label]
    print(f"{label}: median {statistics.median(r['ready_ms'] for r in runs):.0f} ms; "
          f"idle RSS median {statistics.median(r['idle_rss_mb'] for r in runs):.1f} MB")
PY
