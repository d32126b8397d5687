import KauriDatabase

/// The payments tables: payment intents, refunds, and the inbox of received webhooks and callbacks.
public enum PaymentMigrations {
    /// Every payments migration, in order.
    public static let all: [Migration] = [
        Migration(
            module: "payments", version: 1, name: "create_payments_refunds_inbox",
            sql: [
                // One row per payment intent. `gateway_call` records how far the call that started it at the
                // gateway got (`pending`: not answered yet, `sent`: answered, `unknown`: no usable answer), so a
                // retry after a crash resumes instead of charging twice. `(owner_reference, idempotency_key)`
                // finds the payment a retried request created.
                """
                CREATE TABLE payments (
                    id TEXT PRIMARY KEY,
                    owner_reference TEXT NOT NULL,
                    idempotency_key TEXT,
                    gateway TEXT NOT NULL,
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    method TEXT NOT NULL CHECK (method IN ('redirect', 'mobile_money')),
                    phone TEXT,
                    mobile_provider TEXT,
                    status TEXT NOT NULL CHECK (status IN ('requires_action', 'processing', 'succeeded', 'failed',
                        'cancelled', 'expired')),
                    customer_email TEXT,
                    customer_name TEXT,
                    reference TEXT,
                    metadata TEXT NOT NULL,
                    return_url TEXT,
                    next_action_type TEXT,
                    next_action_value TEXT,
                    gateway_reference TEXT NOT NULL UNIQUE,
                    gateway_call TEXT NOT NULL CHECK (gateway_call IN ('pending', 'sent', 'unknown')),
                    provider_reference TEXT,
                    provider_transaction_id TEXT,
                    failure_code TEXT,
                    failure_message TEXT,
                    review_reason TEXT,
                    credit_account_id TEXT NOT NULL,
                    amount_refunded BIGINT NOT NULL DEFAULT 0,
                    amount_refund_pending BIGINT NOT NULL DEFAULT 0,
                    check_attempts INTEGER NOT NULL DEFAULT 0,
                    next_check_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    succeeded_at BIGINT,
                    expires_at BIGINT NOT NULL,
                    CHECK (amount_refunded >= 0 AND amount_refund_pending >= 0
                        AND amount_refunded + amount_refund_pending <= amount)
                )
                """,
                """
                CREATE UNIQUE INDEX payments_idempotency ON payments (owner_reference, idempotency_key)
                    WHERE idempotency_key IS NOT NULL
                """,
                "CREATE INDEX payments_owner ON payments (owner_reference, id)",
                "CREATE INDEX payments_provider_reference ON payments (gateway, provider_reference)",
                """
                CREATE INDEX payments_due ON payments (next_check_at)
                    WHERE status IN ('requires_action', 'processing') AND review_reason IS NULL
                """,
                """
                CREATE TABLE payment_refunds (
                    id TEXT PRIMARY KEY,
                    payment_id TEXT NOT NULL REFERENCES payments (id),
                    owner_reference TEXT NOT NULL,
                    idempotency_key TEXT,
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
                    reason TEXT,
                    gateway_reference TEXT NOT NULL UNIQUE,
                    gateway_call TEXT NOT NULL CHECK (gateway_call IN ('pending', 'sent', 'unknown')),
                    provider_reference TEXT,
                    failure_code TEXT,
                    failure_message TEXT,
                    check_attempts INTEGER NOT NULL DEFAULT 0,
                    next_check_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                """
                CREATE UNIQUE INDEX payment_refunds_idempotency ON payment_refunds (owner_reference, idempotency_key)
                    WHERE idempotency_key IS NOT NULL
                """,
                "CREATE INDEX payment_refunds_payment ON payment_refunds (payment_id, id)",
                "CREATE INDEX payment_refunds_due ON payment_refunds (next_check_at) WHERE status = 'pending'",
                // The inbox: every authentic webhook or callback, raw, once. `digest` (SHA-256 of the target and
                // the raw body) is the provider event's identity: a provider re-sending an event sends the same
                // bytes, so a duplicate is refused by the unique key and answered 200 without a second row.
                """
                CREATE TABLE payment_webhook_events (
                    id TEXT PRIMARY KEY,
                    gateway TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    target_id TEXT,
                    headers TEXT NOT NULL,
                    body TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'ignored', 'flagged', 'failed')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at BIGINT NOT NULL,
                    last_error TEXT,
                    received_at BIGINT NOT NULL,
                    applied_at BIGINT,
                    UNIQUE (gateway, digest)
                )
                """,
                "CREATE INDEX payment_webhook_events_due ON payment_webhook_events (next_attempt_at) WHERE state = 'pending'",
            ]),
        Migration(
            module: "payments", version: 2, name: "create_payouts",
            sql: [
                // One destination per owner and currency: a mobile-money wallet or a bank account at a gateway.
                """
                CREATE TABLE payout_destinations (
                    owner_reference TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    gateway TEXT NOT NULL,
                    type TEXT NOT NULL CHECK (type IN ('mobile_money', 'bank_account')),
                    phone TEXT,
                    provider TEXT,
                    bank_code TEXT,
                    account_number TEXT,
                    name TEXT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (owner_reference, currency)
                )
                """,
                // `gateway_call` as for payments: how far the provider call got, so a retry resumes.
                """
                CREATE TABLE payouts (
                    id TEXT PRIMARY KEY,
                    owner_reference TEXT NOT NULL,
                    idempotency_key TEXT,
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    gateway TEXT NOT NULL,
                    destination TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
                    gateway_call TEXT NOT NULL CHECK (gateway_call IN ('pending', 'sent', 'unknown')),
                    provider_reference TEXT,
                    failure_code TEXT,
                    failure_message TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                """
                CREATE UNIQUE INDEX payouts_idempotency ON payouts (owner_reference, idempotency_key)
                    WHERE idempotency_key IS NOT NULL
                """,
                "CREATE INDEX payouts_owner ON payouts (owner_reference, id)",
            ]),
    ]
}
