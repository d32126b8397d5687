import KauriDatabase

/// The messaging tables: the transactional outbox and, in sandbox mode, the dev sink.
public enum MessagingMigrations {
    /// Every messaging migration, in order.
    public static let all: [Migration] = [
        Migration(
            module: "messaging", version: 1, name: "create_outbox_and_dev_sink",
            sql: [
                // One row per message to deliver. `body` is sealed (encrypted) when the outbox has a sealer, and
                // cleared once the provider accepted the message, so codes do not linger in the database.
                """
                CREATE TABLE outbox_messages (
                    id TEXT PRIMARY KEY,
                    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
                    recipient TEXT NOT NULL,
                    subject TEXT,
                    body TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at BIGINT NOT NULL,
                    last_error TEXT,
                    provider TEXT,
                    provider_message_id TEXT,
                    created_at BIGINT NOT NULL,
                    sent_at BIGINT
                )
                """,
                "CREATE INDEX outbox_messages_due ON outbox_messages (next_attempt_at) WHERE status = 'pending'",
                """
                CREATE TABLE dev_messages (
                    id TEXT PRIMARY KEY,
                    recipient TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    subject TEXT,
                    body TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX dev_messages_recipient ON dev_messages (recipient, id)",
            ]),
    ]
}
