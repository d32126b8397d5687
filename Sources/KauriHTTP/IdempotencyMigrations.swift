import KauriDatabase

/// The idempotency table: one row per (caller, `Idempotency-Key`), holding the claim while the first request runs
/// and then the response that every retry replays.
public enum IdempotencyMigrations {
    /// Every idempotency migration, in order. The migration id is `http/idempotency/1`.
    public static let all: [Migration] = [
        Migration(module: "http/idempotency", version: 1, name: "create_idempotency_keys") { kind in
            let bytesType =
                switch kind {
                case .sqlite: "BLOB"
                case .postgres: "BYTEA"
                }
            return [
                // `scope` is the caller's owner reference, so one caller can never read another's response.
                // While `in_progress`, `lease_token` names the request holding the claim and `locked_until`
                // is when a retry may take it over (the holder is presumed dead); once `completed`, the
                // response columns are set and the lease columns cleared.
                """
                CREATE TABLE idempotency_keys (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    method TEXT NOT NULL,
                    path TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
                    lease_token TEXT,
                    locked_until BIGINT,
                    response_status INTEGER,
                    response_headers TEXT,
                    response_body \(bytesType),
                    created_at BIGINT NOT NULL,
                    completed_at BIGINT,
                    PRIMARY KEY (scope, key),
                    CHECK ((state = 'in_progress') = (lease_token IS NOT NULL AND locked_until IS NOT NULL)),
                    CHECK ((state = 'completed') = (response_status IS NOT NULL AND completed_at IS NOT NULL))
                )
                """,
                // The purge deletes the oldest rows first, in batches.
                "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
            ]
        }
    ]
}
