#!/usr/bin/env bash
# Ledger benchmark: single-transfer and group-commit throughput on SQLite (synchronous=FULL) and PostgreSQL,
# with same-run baselines: a one-row-per-commit loop on the same database, and pgbench -N on PostgreSQL.
#
#   bench/ledger.sh                        # SQLite only
#   POSTGRES_URL=postgres://… bench/ledger.sh   # SQLite and PostgreSQL
#   DURATION=10 ROUNDS=3 SINGLE_CLIENTS=16 GROUP_CLIENTS=512 bench/ledger.sh
#
# Rounds are interleaved (baseline, single, group, baseline, …) so drift in the shared machine's load hits
# every scenario alike; the table shows each scenario's median round.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
SINGLE_CLIENTS=${SINGLE_CLIENTS:-16}
GROUP_CLIENTS=${GROUP_CLIENTS:-512}
ACCOUNTS=${ACCOUNTS:-10000}

swift build -c release --product kauri-ledger-bench >/dev/null
bench=.build/release/kauri-ledger-bench
out=$(mktemp)

engines=(sqlite)
if [ -n "${POSTGRES_URL:-}" ]; then
    engines+=(postgres)
    pgbench -i -q -s 10 "$POSTGRES_URL" >/dev/null 2>&1
fi

for round in $(seq 1 "$ROUNDS"); do
    for engine in "${engines[@]}"; do
        "$bench" --database "$engine" --scenario baseline --concurrency "$SINGLE_CLIENTS" --duration "$DURATION" \
            --accounts 10 | sed "s/^{/{\"round\":$round,\"clients\":\"$SINGLE_CLIENTS\",/" >>"$out"
        "$bench" --database "$engine" --scenario single --concurrency "$SINGLE_CLIENTS" --duration "$DURATION" \
            --accounts "$ACCOUNTS" | sed "s/^{/{\"round\":$round,\"clients\":\"$SINGLE_CLIENTS\",/" >>"$out"
        "$bench" --database "$engine" --scenario group --concurrency "$GROUP_CLIENTS" --duration "$DURATION" \
            --accounts "$ACCOUNTS" | sed "s/^{/{\"round\":$round,\"clients\":\"$GROUP_CLIENTS\",/" >>"$out"
        if [ "$engine" = postgres ]; then
            tps=$(pgbench -N -c "$SINGLE_CLIENTS" -j 2 -T "$DURATION" -n "$POSTGRES_URL" 2>/dev/null \
                | awk '/^tps/ {print int($3)}')
            echo "{\"round\":$round,\"clients\":\"$SINGLE_CLIENTS\",\"database\":\"postgres\",\"scenario\":\"pgbench-N\",\"per_second\":$tps}" >>"$out"
        fi
    done
done

python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
groups = {}
for row in rows:
    groups.setdefault((row["database"], row["scenario"]), []).append(row)
print(f"{'database':9} {'scenario':10} {'clients':>7} {'per second (median)':>20} {'rounds':>24} {'p99 ms':>8} {'valid':>6}")
medians = {}
for (database, scenario), items in groups.items():
    rates = [item["per_second"] for item in items]
    median = statistics.median(rates)
    medians[(database, scenario)] = median
    p99 = statistics.median([item.get("p99_us", 0) for item in items]) / 1000
    valid = all(item.get("ledger_valid", True) and item.get("failures", 0) == 0 for item in items)
    print(f"{database:9} {scenario:10} {items[0]['clients']:>7} {median:>20,.0f} {str(rates):>24} {p99:>8.1f} {str(valid):>6}")
for database in ("sqlite", "postgres"):
    base = medians.get((database, "pgbench-N" if database == "postgres" else "baseline"))
    if not base:
        continue
    for scenario in ("single", "group"):
        if (database, scenario) in medians:
            print(f"{database} {scenario} / {'pgbench -N' if database == 'postgres' else 'one-row-per-commit loop'}: "
                  f"{medians[(database, scenario)] / base:.2f}")
    if database == "postgres" and (database, "baseline") in medians:
        print(f"postgres single / one-row-per-commit loop (same driver): {medians[(database, 'single')] / medians[(database, 'baseline')]:.2f}")
PY
rm -f "$out"
