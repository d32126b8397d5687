#!/usr/bin/env bash
# Escrow benchmark (issue #6's figures): the real application and the gateway sandbox in one process
# (kauri-payments-bench), driven over loopback HTTP at CONNECTIONS connections, on SQLite (WAL, synchronous=FULL)
# and, when POSTGRES_URL is set, PostgreSQL (fsync on). ROUNDS interleaved rounds of:
#   links       POST /v1/payment-links: links per second, p50/p99.
#   flow        the S4 story per client loop: create link → checkout (STK push to the sandbox) → the sandbox's signed
#               webhook → escrow paid, money held: flows per second, p50/p99 of each step.
#   settlement  ESCROWS due escrows released by two settlement workers at once: escrows released per second.
#   baseline    in the same round (kauri-ledger-bench, 16 clients): a plain one-row-per-commit loop, the durable
#               commit rate everything builds on.
# Environment: DURATION (s, default 10), ROUNDS (default 3), CONNECTIONS (default 64), ESCROWS (default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
ESCROWS=${ESCROWS:-10000}

swift build -c release --product kauri-payments-bench >&2
swift build -c release --product kauri-ledger-bench >&2
BIN=$(swift build -c release --show-bin-path)

engines=(sqlite)
if [ -n "${POSTGRES_URL:-}" ]; then engines+=(postgres); fi
for round in $(seq 1 "$ROUNDS"); do
    for engine in "${engines[@]}"; do
        for scenario in links flow; do
            "$BIN/kauri-payments-bench" --database "$engine" --scenario "$scenario" --connections "$CONNECTIONS" \
                --duration "$DURATION" 2>/dev/null | tail -1
        done
        "$BIN/kauri-payments-bench" --database "$engine" --scenario settlement --payments "$ESCROWS" 2>/dev/null | tail -1
        "$BIN/kauri-ledger-bench" --database "$engine" --scenario baseline --concurrency 16 --duration "$DURATION" | tail -1
    done
done
