import KauriDatabase

/// The escrow tables: payment links, escrows, and each escrow's transition log.
public enum EscrowMigrations {
    /// Every escrow migration, in order.
    public static let all: [Migration] = [
        Migration(
            module: "escrow", version: 1, name: "create_payment_links_escrows",
            sql: [
                """
                CREATE TABLE payment_links (
                    id TEXT PRIMARY KEY,
                    seller_reference TEXT NOT NULL,
                    seller_phone TEXT,
                    title TEXT NOT NULL,
                    description TEXT,
                    price BIGINT NOT NULL CHECK (price > 0),
                    currency TEXT NOT NULL,
                    quantity_available INTEGER CHECK (quantity_available >= 0),
                    quantity_sold INTEGER NOT NULL DEFAULT 0 CHECK (quantity_sold >= 0),
                    status TEXT NOT NULL CHECK (status IN ('active', 'closed')),
                    expires_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX payment_links_seller ON payment_links (seller_reference, id)",
                // `checkout_key` (the checkout's Idempotency-Key, scoped by link) finds the escrow a retried
                // checkout created. `payment_id` is null from the escrow's insert until its payment exists (the
                // escrow is written first, so news of the payment always finds it). `release_due_at` is set while
                // delivered: the settlement service's queue.
                """
                CREATE TABLE escrows (
                    id TEXT PRIMARY KEY,
                    link_id TEXT NOT NULL REFERENCES payment_links (id),
                    checkout_key TEXT,
                    seller_reference TEXT NOT NULL,
                    seller_phone TEXT,
                    buyer_phone TEXT NOT NULL,
                    buyer_name TEXT NOT NULL,
                    title TEXT NOT NULL,
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    fee BIGINT NOT NULL CHECK (fee >= 0 AND fee < amount),
                    currency TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'completed',
                        'disputed', 'refunded', 'cancelled', 'expired')),
                    payment_id TEXT UNIQUE,
                    gateway TEXT NOT NULL,
                    shipping TEXT,
                    release_due_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE UNIQUE INDEX escrows_checkout_key ON escrows (link_id, checkout_key) WHERE checkout_key IS NOT NULL",
                "CREATE INDEX escrows_seller ON escrows (seller_reference, id)",
                "CREATE INDEX escrows_buyer ON escrows (buyer_phone, id)",
                "CREATE INDEX escrows_release_due ON escrows (release_due_at) WHERE release_due_at IS NOT NULL",
                """
                CREATE TABLE escrow_transitions (
                    escrow_id TEXT NOT NULL REFERENCES escrows (id),
                    sequence INTEGER NOT NULL,
                    from_status TEXT,
                    to_status TEXT NOT NULL,
                    event TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    reason TEXT,
                    at BIGINT NOT NULL,
                    PRIMARY KEY (escrow_id, sequence)
                )
                """,
            ]),
        Migration(
            module: "escrow", version: 2, name: "create_escrow_disputes",
            sql: [
                // What a dispute's resolution returns to the buyer, and the payments module's refund doing it
                // (null until created: the settlement pass creates any that a crash left out).
                "ALTER TABLE escrows ADD COLUMN refund_amount BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE escrows ADD COLUMN refund_id TEXT",
                // One dispute per escrow: opened by a party, resolved once by an admin.
                """
                CREATE TABLE escrow_disputes (
                    id TEXT PRIMARY KEY,
                    escrow_id TEXT NOT NULL UNIQUE REFERENCES escrows (id),
                    opened_by TEXT NOT NULL CHECK (opened_by IN ('buyer', 'seller')),
                    reason TEXT NOT NULL,
                    evidence TEXT,
                    evidence_links TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
                    outcome TEXT CHECK (outcome IN ('release', 'refund', 'split')),
                    seller_amount BIGINT,
                    refund_amount BIGINT,
                    resolution_note TEXT,
                    resolved_by TEXT,
                    created_at BIGINT NOT NULL,
                    resolved_at BIGINT
                )
                """,
                "CREATE INDEX escrows_refund_due ON escrows (id) WHERE refund_amount > 0 AND refund_id IS NULL",
            ]),
        Migration(
            module: "escrow", version: 3, name: "create_risk_decisions",
            sql: [
                // Set when the risk check held the checkout: no release until an admin clears it.
                "ALTER TABLE escrows ADD COLUMN review_reason TEXT",
                // Every checkout's risk decision, refused ones included (escrow_id null).
                """
                CREATE TABLE risk_decisions (
                    link_id TEXT NOT NULL,
                    escrow_id TEXT,
                    seller_reference TEXT NOT NULL,
                    buyer_phone TEXT NOT NULL,
                    amount BIGINT NOT NULL,
                    currency TEXT NOT NULL,
                    score INTEGER NOT NULL,
                    outcome TEXT NOT NULL CHECK (outcome IN ('allow', 'hold', 'refuse')),
                    reasons TEXT NOT NULL,
                    at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX risk_decisions_phone ON risk_decisions (buyer_phone, at)",
                "CREATE INDEX escrows_buyer_recent ON escrows (buyer_phone, created_at)",
            ]),
        Migration(
            module: "escrow", version: 4, name: "add_sessions",
            sql: [
                // A link of kind `session` is a partner's session offer (S1); its escrows are sessions, rated by
                // the client after the session and split by the rating when the hold ends.
                "ALTER TABLE payment_links ADD COLUMN kind TEXT NOT NULL DEFAULT 'goods' CHECK (kind IN ('goods', 'session'))",
                "ALTER TABLE payment_links ADD COLUMN duration_minutes INTEGER",
                // payment_links.seller_phone is no longer written: a checkout reads the seller's phone as it is then.
                "ALTER TABLE escrows ADD COLUMN kind TEXT NOT NULL DEFAULT 'goods' CHECK (kind IN ('goods', 'session'))",
                // The signed-in user who booked (a buyer by account, besides the phone that paid).
                "ALTER TABLE escrows ADD COLUMN buyer_reference TEXT",
                "ALTER TABLE escrows ADD COLUMN rating INTEGER CHECK (rating BETWEEN 1 AND 5)",
                "ALTER TABLE escrows ADD COLUMN rating_comment TEXT",
                "CREATE INDEX escrows_buyer_reference ON escrows (buyer_reference, id) WHERE buyer_reference IS NOT NULL",
            ]),
        Migration(
            module: "escrow", version: 5, name: "add_automatic_payouts_and_risk_indexes",
            sql: [
                // Set on release when payouts are automatic; the payout is created after the commit, or by the next
                // settlement pass after a crash (idempotent by the escrow's id).
                "ALTER TABLE escrows ADD COLUMN payout_owed BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE escrows ADD COLUMN payout_id TEXT",
                "CREATE INDEX escrows_payout_due ON escrows (id) WHERE payout_owed > 0 AND payout_id IS NULL",
                // The checkout risk check's per-seller facts, without scanning a seller's every escrow and link.
                "CREATE INDEX escrows_seller_recent ON escrows (seller_reference, created_at)",
                "CREATE INDEX escrows_seller_completed ON escrows (seller_reference, currency, status, amount)",
                "CREATE INDEX payment_links_seller_first ON payment_links (seller_reference, created_at)",
            ]),
        Migration(
            module: "escrow", version: 6, name: "add_refund_attempts",
            sql: [
                // A refund the gateway refused is made again (a new refund) by the next settlement pass, up to
                // `Escrows.refundAttemptsMax` times.
                "ALTER TABLE escrows ADD COLUMN refund_attempts INTEGER NOT NULL DEFAULT 0"
            ]),
    ]
}
