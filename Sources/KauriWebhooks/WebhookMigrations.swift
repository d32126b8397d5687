import KauriDatabase

/// The webhook tables: the operator's endpoints, and the deliveries waiting for or done with their attempts.
public enum WebhookMigrations {
    /// Every webhook migration, in order.
    public static let all: [Migration] = [
        Migration(
            module: "webhooks", version: 1, name: "create_endpoints_and_deliveries",
            sql: [
                // One row per registered receiver. `events` is a JSON array of event types (`*` for all).
                // `secret` signs every delivery; during a rotation `previous_secret` signs alongside it until
                // `previous_secret_expires_at`. Secrets are returned by the API only when they are made.
                """
                CREATE TABLE webhook_endpoints (
                    id TEXT PRIMARY KEY,
                    url TEXT NOT NULL,
                    events TEXT NOT NULL,
                    description TEXT,
                    secret TEXT NOT NULL,
                    previous_secret TEXT,
                    previous_secret_expires_at BIGINT,
                    state TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
                    disabled_reason TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                // One row per (message, endpoint): written in the emitting transaction, then attempted by
                // `WebhookDeliveryService` until the endpoint answers 2xx or the schedule runs out.
                // `leased_until` reserves a claimed row for one attempt; `attempts` counts claims.
                """
                CREATE TABLE webhook_deliveries (
                    id TEXT PRIMARY KEY,
                    endpoint_id TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at BIGINT NOT NULL,
                    leased_until BIGINT NOT NULL DEFAULT 0,
                    last_attempt_at BIGINT,
                    last_status INTEGER,
                    last_error TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending'",
                "CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id)",
                "CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id)",
            ])
    ]
}
