import KauriDatabase

/// The identity tables: users, one-time-code challenges, email tokens, sessions (refresh-token families), refresh
/// tokens and TOTP recovery codes. Every secret is stored as a MAC or hash, never in plain text.
public enum IdentityMigrations {
    /// Every identity migration, in order.
    public static let all: [Migration] = [
        Migration(
            module: "identity", version: 1, name: "create_users_challenges_sessions",
            sql: [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    phone TEXT UNIQUE,
                    email TEXT UNIQUE,
                    email_verified_at BIGINT,
                    pending_email TEXT,
                    password_hash TEXT,
                    name TEXT,
                    roles TEXT NOT NULL,
                    trial_ends_at BIGINT,
                    totp_secret TEXT,
                    totp_enabled_at BIGINT,
                    totp_last_step BIGINT,
                    failed_logins INTEGER NOT NULL DEFAULT 0,
                    locked_until BIGINT,
                    sessions_not_before BIGINT NOT NULL DEFAULT 0,
                    disabled_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                // `purpose` is sign_in or phone_change (then user_id names who asked). Only the newest challenge
                // of a phone and purpose can be answered.
                """
                CREATE TABLE otp_challenges (
                    id TEXT PRIMARY KEY,
                    phone TEXT NOT NULL,
                    purpose TEXT NOT NULL CHECK (purpose IN ('sign_in', 'phone_change')),
                    user_id TEXT REFERENCES users (id),
                    code_mac TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    client_address TEXT,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    consumed_at BIGINT
                )
                """,
                "CREATE INDEX otp_challenges_phone ON otp_challenges (phone, purpose, created_at)",
                "CREATE INDEX otp_challenges_client ON otp_challenges (client_address, created_at)",
                """
                CREATE TABLE email_tokens (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'change_email', 'reset_password')),
                    token_hash TEXT NOT NULL UNIQUE,
                    email TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    consumed_at BIGINT
                )
                """,
                """
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    method TEXT NOT NULL,
                    client_address TEXT,
                    user_agent TEXT,
                    created_at BIGINT NOT NULL,
                    last_used_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    revoked_at BIGINT,
                    revoked_reason TEXT
                )
                """,
                "CREATE INDEX sessions_user ON sessions (user_id, created_at)",
                """
                CREATE TABLE refresh_tokens (
                    token_hash TEXT PRIMARY KEY,
                    session_id TEXT NOT NULL REFERENCES sessions (id),
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    used_at BIGINT,
                    used_by TEXT
                )
                """,
                "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)",
                """
                CREATE TABLE recovery_codes (
                    user_id TEXT NOT NULL REFERENCES users (id),
                    code_hash TEXT NOT NULL,
                    used_at BIGINT,
                    PRIMARY KEY (user_id, code_hash)
                )
                """,
            ])
    ]
}
