#!/usr/bin/env bash
# Payments benchmark (issue #5's figures): the real application and the gateway sandbox in one process
# (kauri-payments-bench), driven over loopback HTTP at CONNECTIONS connections, on SQLite (WAL, synchronous=FULL)
# and, when POSTGRES_URL is set, PostgreSQL (fsync on). ROUNDS interleaved rounds of:
#   webhooks  signed Paystack charge.success webhooks for PAYMENTS prepared payments: accepted (verified and
#             stored) per second with p50/p99, and applied per second (until every payment succeeded).
#   checkout  create payment → sandbox approves → signed webhook → stored → applied: flows per second.
#   baselines in the same round (kauri-ledger-bench, 16 clients): a plain one-row-per-commit loop, and the
#             ledger's single transfer per transaction — the durable-commit rates the payment paths build on.
# Environment: DURATION (s, default 10), ROUNDS (default 3), CONNECTIONS (default 64), PAYMENTS (default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
PAYMENTS=${PAYMENTS:-20000}

swift build -c release --product kauri-payments-bench >&2
swift build -c release --product kauri-ledger-bench >&2
BIN=$(swift build -c release --show-bin-path)

engines=(sqlite)
if [ -n "${POSTGRES_URL:-}" ]; then engines+=(postgres); fi
for round in $(seq 1 "$ROUNDS"); do
    for engine in "${engines[@]}"; do
        "$BIN/kauri-payments-bench" --database "$engine" --scenario webhooks --connections "$CONNECTIONS" \
            --payments "$PAYMENTS"
        "$BIN/kauri-payments-bench" --database "$engine" --scenario checkout --connections "$CONNECTIONS" \
            --duration "$DURATION"
        for scenario in baseline single; do
            "$BIN/kauri-ledger-bench" --database "$engine" --scenario "$scenario" --concurrency 16 --duration "$DURATION" \
                | tail -1
        done
    done
done
