#!/usr/bin/env bash
# Identity benchmark (issue #3's figures), all in one run on this machine:
#   1. bcrypt cost 12: hashes per second on one core (kauri-identity-bench --scenario bcrypt).
#   2. OTP verify and token refresh over HTTP at CONNECTIONS connections, throughput and p99, on SQLite and, when
#      POSTGRES_URL is set, PostgreSQL (kauri-identity-bench: the app served in-process on loopback).
#   3. Access-token cost: authenticated GET /v1/me against GET /healthz on one release `kauri` (SQLite), ROUNDS
#      interleaved rounds with kauri-load; the ratio of medians is the figure.
#   4. /healthz p99 at a fixed arrival rate (open loop) idle, then while 50 logins (bcrypt cost 12) run
#      concurrently; the ratio is the figure.
# Rate limits are switched off for the load (they would answer the load generator with 429s).
# Environment: DURATION (s, default 10), ROUNDS (default 3), CONNECTIONS (default 64), HEALTH_RATE (default 500),
# SECTIONS (default "bcrypt http me logins": any subset).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
HEALTH_RATE=${HEALTH_RATE:-500}
PORT=${PORT:-18180}
SECTIONS=${SECTIONS:-bcrypt http me logins}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

swift build -c release --product kauri-identity-bench >&2
swift build -c release --product kauri >&2
swift build -c release --product kauri-load >&2
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if want bcrypt; then
    echo "== bcrypt (cost 12, one thread)"
    "$BIN/kauri-identity-bench" --scenario bcrypt --duration "$DURATION"
fi

engines=(sqlite)
if [ -n "${POSTGRES_URL:-}" ]; then engines+=(postgres); fi
want http || engines=()
for engine in "${engines[@]}"; do
    echo "== $engine: OTP verify and refresh, $CONNECTIONS connections"
    "$BIN/kauri-identity-bench" --database "$engine" --scenario verify --connections "$CONNECTIONS" \
        --duration "$DURATION" --codes 30000
    "$BIN/kauri-identity-bench" --database "$engine" --scenario refresh --connections "$CONNECTIONS" \
        --duration "$DURATION"
done

echo "== access-token cost: GET /v1/me vs GET /healthz (SQLite, $CONNECTIONS connections)"
"$BIN/kauri" --data-dir "$WORK/data" --port "$PORT" --access-log false --log-level warning \
    --rate-limit off --auth-rate-limit off &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
json() { curl -sf -H 'Content-Type: application/json' "$@"; }
json "$BASE/v1/auth/otp" -d '{"phone":"+233241234567"}' >/dev/null
sleep 0.5
CODE=$(curl -sf "$BASE/v1/dev/messages?to=%2B233241234567" | python3 -c \
    'import json,re,sys; print(re.search(r"\d{6}", json.load(sys.stdin)["data"][0]["body"]).group())')
TOKEN=$(json "$BASE/v1/auth/otp/verify" -d "{\"phone\":\"+233241234567\",\"code\":\"$CODE\"}" | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["access_token"])')
want me && for round in $(seq 1 "$ROUNDS"); do
    "$BIN/kauri-load" --url "$BASE/healthz" --connections "$CONNECTIONS" --duration "$DURATION" --warmup 2 \
        --label "healthz#$round" --json
    "$BIN/kauri-load" --url "$BASE/v1/me" --connections "$CONNECTIONS" --duration "$DURATION" --warmup 2 \
        --header "Authorization: Bearer $TOKEN" --label "me#$round" --json
done

want logins || exit 0
echo "== /healthz p99 at $HEALTH_RATE req/s: idle, then during 50 concurrent logins (bcrypt cost 12)"
json "$BASE/v1/auth/register" -d '{"email":"bench@example.com","password":"correct horse battery"}' >/dev/null
sleep 0.5
VERIFY=$(curl -sf "$BASE/v1/dev/messages?to=bench@example.com" | python3 -c \
    'import json,sys; body=json.load(sys.stdin)["data"][0]["body"]; print([l.strip() for l in body.splitlines() if len(l.strip())>=40 and " " not in l.strip()][0])')
json "$BASE/v1/auth/email/verify" -d "{\"token\":\"$VERIFY\"}" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    "$BIN/kauri-load" --url "$BASE/healthz" --rate "$HEALTH_RATE" --connections 16 --duration "$DURATION" \
        --warmup 2 --label "healthz-idle#$round" --json
    "$BIN/kauri-load" --url "$BASE/v1/auth/login" --method POST --connections 50 --duration $((DURATION + 4)) \
        --warmup 0 --body '{"email":"bench@example.com","password":"correct horse battery"}' \
        --label "logins#$round" --json > "$WORK/logins.json" &
    LOGINS=$!
    sleep 1
    "$BIN/kauri-load" --url "$BASE/healthz" --rate "$HEALTH_RATE" --connections 16 --duration "$DURATION" \
        --warmup 2 --label "healthz-during-logins#$round" --json
    wait "$LOGINS"
    cat "$WORK/logins.json"
done
