import KauriDatabase

/// The ledger's tables: accounts (balances change), transfers and balance history (append-only).
public enum LedgerMigrations {
    /// Every ledger migration, in order.
    public static let all: [Migration] = [
        Migration(module: "ledger", version: 1, name: "create_accounts_transfers_history") { kind in
            let sequenceColumn =
                switch kind {
                case .sqlite: "sequence INTEGER PRIMARY KEY AUTOINCREMENT"
                case .postgres: "sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
                }
            var statements = [
                // Balance limits are checked by the engine and again by the database, so no code path can
                // store a balance that breaks an account's flags.
                """
                CREATE TABLE ledger_accounts (
                    id TEXT PRIMARY KEY,
                    currency TEXT NOT NULL,
                    code TEXT NOT NULL,
                    owner_reference TEXT,
                    flags BIGINT NOT NULL,
                    debits_pending BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
                    debits_posted BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
                    credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
                    credits_posted BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
                    version BIGINT NOT NULL DEFAULT 0,
                    created_at BIGINT NOT NULL,
                    CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
                    CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted),
                    CHECK ((flags & 3) <> 3)
                )
                """,
                "CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_reference, currency)",
                """
                CREATE TABLE ledger_transfers (
                    \(sequenceColumn),
                    id TEXT NOT NULL UNIQUE,
                    debit_account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
                    credit_account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    code TEXT NOT NULL,
                    reference TEXT,
                    kind TEXT NOT NULL CHECK (kind IN ('single', 'pending', 'post', 'void', 'expire')),
                    pending_id TEXT REFERENCES ledger_transfers (id),
                    expires_at BIGINT,
                    timestamp BIGINT NOT NULL,
                    CHECK ((kind IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)),
                    CHECK (debit_account_id <> credit_account_id)
                )
                """,
                // At most one transfer resolves a pending transfer: the database itself refuses a second.
                """
                CREATE UNIQUE INDEX ledger_transfers_pending ON ledger_transfers (pending_id)
                WHERE pending_id IS NOT NULL
                """,
                "CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id, sequence)",
                "CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id, sequence)",
                """
                CREATE INDEX ledger_transfers_expiry ON ledger_transfers (expires_at)
                WHERE kind = 'pending' AND expires_at IS NOT NULL
                """,
                """
                CREATE TABLE ledger_account_history (
                    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
                    version BIGINT NOT NULL,
                    transfer_id TEXT NOT NULL,
                    timestamp BIGINT NOT NULL,
                    debits_pending BIGINT NOT NULL,
                    debits_posted BIGINT NOT NULL,
                    credits_pending BIGINT NOT NULL,
                    credits_posted BIGINT NOT NULL,
                    PRIMARY KEY (account_id, version)
                )
                """,
                "CREATE INDEX ledger_account_history_time ON ledger_account_history (account_id, timestamp)",
            ]
            // Transfers and history are append-only: UPDATE and DELETE are refused by the database.
            switch kind {
            case .sqlite:
                for table in ["ledger_transfers", "ledger_account_history"] {
                    for operation in ["UPDATE", "DELETE"] {
                        statements.append(
                            """
                            CREATE TRIGGER \(table)_no_\(operation.lowercased()) BEFORE \(operation) ON \(table)
                            BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END
                            """)
                    }
                }
            case .postgres:
                statements.append(
                    """
                    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'raise_exception';
                    END
                    $$
                    """)
                for table in ["ledger_transfers", "ledger_account_history"] {
                    statements.append(
                        """
                        CREATE TRIGGER \(table)_append_only BEFORE UPDATE OR DELETE ON \(table)
                        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
                        """)
                    statements.append(
                        """
                        CREATE TRIGGER \(table)_no_truncate BEFORE TRUNCATE ON \(table)
                        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()
                        """)
                }
            }
            return statements
        }
    ]
}
