#!/usr/bin/env python3
"""The SQLite ceiling for the ledger's group commit on this machine.

Does only the SQL work of one group-commit batch — read the touched accounts, insert 2,000 transfers, update
the accounts — from Python's C-level sqlite3 `executemany`, with the ledger's real schema (the same columns,
CHECKs, foreign keys and indexes as LedgerMigrations), WAL and synchronous=FULL. No Swift, no engine.
Usage: python3 bench/sqlite_ceiling.py [--minimal]   (--minimal: only the id index, no checks or foreign keys)
"""
import os, random, sqlite3, sys, tempfile, time

minimal = "--minimal" in sys.argv
path = os.path.join(tempfile.mkdtemp(prefix="kauri-ceiling-"), "probe.sqlite")
db = sqlite3.connect(path, isolation_level=None)
for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "cache_size=-32768"):
    db.execute("PRAGMA " + pragma)
if minimal:
    db.executescript("""
    CREATE TABLE ledger_accounts (id TEXT PRIMARY KEY, currency TEXT, code TEXT, owner_reference TEXT, flags BIGINT,
      debits_pending BIGINT DEFAULT 0, debits_posted BIGINT DEFAULT 0, credits_pending BIGINT DEFAULT 0,
      credits_posted BIGINT DEFAULT 0, version BIGINT DEFAULT 0, created_at BIGINT);
    CREATE TABLE ledger_transfers (sequence INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
      debit_account_id TEXT, credit_account_id TEXT, amount BIGINT, currency TEXT, code TEXT, reference TEXT,
      kind TEXT, pending_id TEXT, expires_at BIGINT, timestamp BIGINT);
    """)
else:
    db.executescript("""
    CREATE TABLE ledger_accounts (id TEXT PRIMARY KEY, currency TEXT NOT NULL, code TEXT NOT NULL, owner_reference TEXT,
      flags BIGINT NOT NULL, debits_pending BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
      debits_posted BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
      credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
      credits_posted BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0), version BIGINT NOT NULL DEFAULT 0,
      created_at BIGINT NOT NULL,
      CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
      CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted), CHECK ((flags & 3) <> 3));
    CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_reference, currency);
    CREATE TABLE ledger_transfers (sequence INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
      debit_account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
      credit_account_id TEXT NOT NULL REFERENCES ledger_accounts (id), amount BIGINT NOT NULL CHECK (amount > 0),
      currency TEXT NOT NULL, code TEXT NOT NULL, reference TEXT,
      kind TEXT NOT NULL CHECK (kind IN ('single', 'pending', 'post', 'void', 'expire')),
      pending_id TEXT REFERENCES ledger_transfers (id), expires_at BIGINT, timestamp BIGINT NOT NULL,
      CHECK ((kind IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)),
      CHECK (debit_account_id <> credit_account_id));
    CREATE UNIQUE INDEX ledger_transfers_pending ON ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;
    CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id, sequence);
    CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id, sequence);
    CREATE INDEX ledger_transfers_expiry ON ledger_transfers (expires_at)
      WHERE kind = 'pending' AND expires_at IS NOT NULL;
    """)
db.execute("BEGIN")
db.executemany("INSERT INTO ledger_accounts (id, currency, code, flags, created_at) VALUES (?, 'KES', 'x', 0, 0)",
               [(f"bench{i}",) for i in range(10_000)])
db.execute("COMMIT")
random.seed(1)
batches, size, total = 30, 2_000, 0
started = time.perf_counter()
for batch in range(batches):
    ids = [f"w{batch}-{i}" for i in range(size)]
    pairs = []
    for _ in ids:
        debit, credit = random.sample(range(10_000), 2)
        pairs.append((f"bench{debit}", f"bench{credit}"))
    accounts = sorted({a for pair in pairs for a in pair})
    db.execute("BEGIN IMMEDIATE")
    db.execute("SELECT * FROM ledger_accounts WHERE id IN (SELECT value FROM json_each(?))",
               ("[" + ",".join(f'"{a}"' for a in accounts) + "]",)).fetchall()
    db.executemany("INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, code,"
                   " reference, kind, pending_id, expires_at, timestamp)"
                   " VALUES (?, ?, ?, 100, 'KES', 'bench', NULL, 'single', NULL, NULL, 1)",
                   [(i, d, c) for i, (d, c) in zip(ids, pairs)])
    db.executemany("UPDATE ledger_accounts SET debits_posted = debits_posted + 1, version = version + 1 WHERE id = ?",
                   [(a,) for a in accounts])
    db.execute("COMMIT")
    total += size
elapsed = time.perf_counter() - started
print(f"{'minimal' if minimal else 'ledger'} schema: {total / elapsed:,.0f} transfers/s "
      f"({elapsed / batches * 1000:.1f} ms per {size}-transfer batch)")
