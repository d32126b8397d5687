/// The catalogue of settings: one entry per setting with its flag, environment variable, default and help.
///
/// `kauri serve --help`, README.md's configuration table and the loader all come from this list, so a setting
/// is added in one place.
public struct Setting: Sendable, Hashable {
    /// The kind of value, which fixes how it is parsed.
    public enum Kind: String, Sendable {
        case string, integer, boolean, list
    }

    /// The command-line flag without dashes (`port`).
    public let flag: String
    /// The environment variable (`KAURI_PORT`); also the key in the JSON config file.
    public let environmentVariable: String
    /// The kind of value.
    public let kind: Kind
    /// The default, as shown in help.
    public let defaultDescription: String
    /// Whether the value is a secret (never printed).
    public let isSecret: Bool
    /// What it does.
    public let help: String

    /// Where it listens.
    public static let host = Setting(
        flag: "host", environmentVariable: "KAURI_HOST", kind: .string, defaultDescription: "127.0.0.1",
        isSecret: false, help: "Address to listen on.")
    /// The port.
    public static let port = Setting(
        flag: "port", environmentVariable: "KAURI_PORT", kind: .integer, defaultDescription: "8080", isSecret: false,
        help: "Port to listen on (0 picks a free port).")
    /// The data directory.
    public static let dataDirectory = Setting(
        flag: "data-dir", environmentVariable: "KAURI_DATA_DIR", kind: .string, defaultDescription: "./.kauri",
        isSecret: false, help: "Directory for the SQLite database and generated keys; created if missing.")
    /// The PostgreSQL URL.
    public static let databaseURL = Setting(
        flag: "database-url", environmentVariable: "DATABASE_URL", kind: .string,
        defaultDescription: "(none: SQLite in the data dir)", isSecret: true,
        help: "postgres://user:pass@host:5432/db to run on PostgreSQL instead of SQLite.")
    /// The pool size.
    public static let databasePoolSize = Setting(
        flag: "database-pool-size", environmentVariable: "KAURI_DATABASE_POOL_SIZE", kind: .integer,
        defaultDescription: "8", isSecret: false, help: "Maximum database connections (1–200).")
    /// Sandbox or live.
    public static let mode = Setting(
        flag: "mode", environmentVariable: "KAURI_MODE", kind: .string, defaultDescription: "sandbox",
        isSecret: false, help: "sandbox (local gateway simulators) or live (real providers).")
    /// CORS.
    public static let corsAllowedOrigins = Setting(
        flag: "cors-allowed-origins", environmentVariable: "KAURI_CORS_ALLOWED_ORIGINS", kind: .list,
        defaultDescription: "(none)", isSecret: false,
        help: "Comma-separated origins allowed to call the API from a browser, e.g. https://shop.example.")
    /// Body limit.
    public static let requestBodyBytesMax = Setting(
        flag: "request-body-bytes-max", environmentVariable: "KAURI_REQUEST_BODY_BYTES_MAX", kind: .integer,
        defaultDescription: "1048576", isSecret: false, help: "Largest request body accepted, in bytes.")
    /// Access log.
    public static let accessLog = Setting(
        flag: "access-log", environmentVariable: "KAURI_ACCESS_LOG", kind: .boolean, defaultDescription: "true",
        isSecret: false, help: "Write one JSON line per request (true/false).")
    /// Log level.
    public static let logLevel = Setting(
        flag: "log-level", environmentVariable: "KAURI_LOG_LEVEL", kind: .string, defaultDescription: "info",
        isSecret: false, help: "trace, debug, info, notice, warning, error or critical.")
    /// Shutdown grace.
    public static let shutdownGraceSeconds = Setting(
        flag: "shutdown-grace-seconds", environmentVariable: "KAURI_SHUTDOWN_GRACE_SECONDS", kind: .integer,
        defaultDescription: "30", isSecret: false,
        help: "Seconds in-flight requests may take to finish after SIGTERM/SIGINT.")

    /// The admin API key.
    public static let adminAPIKey = Setting(
        flag: "admin-api-key", environmentVariable: "KAURI_ADMIN_API_KEY", kind: .string,
        defaultDescription: "(sandbox: generated into <data-dir>/admin-api-key; live: admin API off)", isSecret: true,
        help: "Bearer key for admin routes (/v1/ledger/…), at least 32 characters. Prefer the environment variable.")

    /// The public web address (links in emails).
    public static let publicURL = Setting(
        flag: "public-url", environmentVariable: "KAURI_PUBLIC_URL", kind: .string,
        defaultDescription: "(none: emails carry the bare token)", isSecret: false,
        help: "Base URL of the web app, used in email links: <url>/verify-email?token=…, <url>/reset-password?token=….")
    /// The access-token signing key.
    public static let jwtSigningKey = Setting(
        flag: "jwt-signing-key", environmentVariable: "KAURI_JWT_SIGNING_KEY", kind: .string,
        defaultDescription: "(sandbox: generated into <data-dir>/jwt-signing-key; live: required)", isSecret: true,
        help: "Ed25519 private key seed (32 bytes, base64) that signs access tokens. `kauri keys` prints a new one.")
    /// The previous signing keys.
    public static let jwtVerificationKeys = Setting(
        flag: "jwt-previous-keys", environmentVariable: "KAURI_JWT_PREVIOUS_KEYS", kind: .list,
        defaultDescription: "(none)", isSecret: true,
        help: "Comma-separated older signing keys whose tokens still verify, for key rotation.")
    /// The server secret.
    public static let authSecret = Setting(
        flag: "auth-secret", environmentVariable: "KAURI_AUTH_SECRET", kind: .string,
        defaultDescription: "(sandbox: generated into <data-dir>/auth-secret; live: required)", isSecret: true,
        help: "At least 32 random bytes, base64: keys the MACs of one-time codes and tokens and seals TOTP secrets.")
    /// Bootstrap admins.
    public static let admins = Setting(
        flag: "admins", environmentVariable: "KAURI_ADMINS", kind: .list, defaultDescription: "(none)",
        isSecret: false,
        help: "Email addresses and E.164 phone numbers that get the admin role when they first sign up.")
    /// General rate limit.
    public static let rateLimit = Setting(
        flag: "rate-limit", environmentVariable: "KAURI_RATE_LIMIT", kind: .string, defaultDescription: "1200/minute",
        isSecret: false,
        help: "Requests per client address (token bucket): <count>/<second|minute|hour>; off to disable.")
    /// Sign-in rate limit.
    public static let authRateLimit = Setting(
        flag: "auth-rate-limit", environmentVariable: "KAURI_AUTH_RATE_LIMIT", kind: .string,
        defaultDescription: "60/minute", isSecret: false,
        help: "Requests to /v1/auth/ per client address, on top of the general limit; off to disable.")
    /// SMS provider.
    public static let smsProvider = Setting(
        flag: "sms-provider", environmentVariable: "KAURI_SMS_PROVIDER", kind: .string,
        defaultDescription: "dev_sink (sandbox); required in live mode", isSecret: false,
        help: "dev_sink, hubtel, twilio or africastalking.")
    /// SMS account.
    public static let smsUsername = Setting(
        flag: "sms-username", environmentVariable: "KAURI_SMS_USERNAME", kind: .string, defaultDescription: "(none)",
        isSecret: false,
        help: "Hubtel client id, Twilio account SID, or Africa's Talking username.")
    /// SMS secret.
    public static let smsAPIKey = Setting(
        flag: "sms-api-key", environmentVariable: "KAURI_SMS_API_KEY", kind: .string, defaultDescription: "(none)",
        isSecret: true, help: "Hubtel client secret, Twilio auth token, or Africa's Talking API key.")
    /// SMS sender.
    public static let smsSender = Setting(
        flag: "sms-sender", environmentVariable: "KAURI_SMS_SENDER", kind: .string, defaultDescription: "(none)",
        isSecret: false, help: "Sender id (≤ 11 characters) or number (Twilio: required).")
    /// SMS base URL.
    public static let smsBaseURL = Setting(
        flag: "sms-base-url", environmentVariable: "KAURI_SMS_BASE_URL", kind: .string,
        defaultDescription: "(the provider's)", isSecret: false,
        help: "Override the provider's API base URL (e.g. a simulator from KauriSandbox).")
    /// Email provider.
    public static let emailProvider = Setting(
        flag: "email-provider", environmentVariable: "KAURI_EMAIL_PROVIDER", kind: .string,
        defaultDescription: "dev_sink (sandbox); required in live mode", isSecret: false,
        help: "dev_sink, resend or smtp.")
    /// Email sender.
    public static let emailFrom = Setting(
        flag: "email-from", environmentVariable: "KAURI_EMAIL_FROM", kind: .string, defaultDescription: "(none)",
        isSecret: false, help: "The From address, e.g. Kauri <no-reply@shop.example>.")
    /// Resend key.
    public static let resendAPIKey = Setting(
        flag: "resend-api-key", environmentVariable: "KAURI_RESEND_API_KEY", kind: .string,
        defaultDescription: "(none)", isSecret: true, help: "Resend API key (email provider resend).")
    /// Resend base URL.
    public static let resendBaseURL = Setting(
        flag: "resend-base-url", environmentVariable: "KAURI_RESEND_BASE_URL", kind: .string,
        defaultDescription: "https://api.resend.com", isSecret: false, help: "Override Resend's API base URL.")
    /// SMTP server.
    public static let smtpURL = Setting(
        flag: "smtp-url", environmentVariable: "KAURI_SMTP_URL", kind: .string, defaultDescription: "(none)",
        isSecret: true,
        help: "smtp://user:pass@host:587 (STARTTLS required), smtps://…:465 (TLS), or smtp+insecure://host:25 (no TLS)."
    )

    /// This API's public root.
    public static let apiURL = Setting(
        flag: "api-url", environmentVariable: "KAURI_API_URL", kind: .string,
        defaultDescription: "http://<host>:<port>", isSecret: false,
        help: "This API's public root as gateways reach it: callback and checkout-return URLs hang off it.")
    /// Paystack secret key.
    public static let paystackSecretKey = Setting(
        flag: "paystack-secret-key", environmentVariable: "KAURI_PAYSTACK_SECRET_KEY", kind: .string,
        defaultDescription: "(sandbox's in sandbox mode)", isSecret: true,
        help: "Paystack secret key (sk_live_… / sk_test_…); enables the paystack gateway. Also signs its webhooks.")
    /// Paystack base URL.
    public static let paystackBaseURL = Setting(
        flag: "paystack-base-url", environmentVariable: "KAURI_PAYSTACK_BASE_URL", kind: .string,
        defaultDescription: "https://api.paystack.co", isSecret: false, help: "Override Paystack's API base URL.")
    /// Daraja consumer key.
    public static let mpesaConsumerKey = Setting(
        flag: "mpesa-consumer-key", environmentVariable: "KAURI_MPESA_CONSUMER_KEY", kind: .string,
        defaultDescription: "(sandbox's in sandbox mode)", isSecret: false,
        help: "Daraja app consumer key; with the other KAURI_MPESA_* settings enables the mpesa gateway.")
    /// Daraja consumer secret.
    public static let mpesaConsumerSecret = Setting(
        flag: "mpesa-consumer-secret", environmentVariable: "KAURI_MPESA_CONSUMER_SECRET", kind: .string,
        defaultDescription: "(none)", isSecret: true, help: "Daraja app consumer secret.")
    /// Daraja short code.
    public static let mpesaShortCode = Setting(
        flag: "mpesa-shortcode", environmentVariable: "KAURI_MPESA_SHORTCODE", kind: .string,
        defaultDescription: "(none)", isSecret: false, help: "Lipa na M-Pesa short code (paybill or store number).")
    /// Daraja pass key.
    public static let mpesaPasskey = Setting(
        flag: "mpesa-passkey", environmentVariable: "KAURI_MPESA_PASSKEY", kind: .string, defaultDescription: "(none)",
        isSecret: true, help: "Lipa na M-Pesa Online pass key (signs the STK push password).")
    /// Daraja transaction type.
    public static let mpesaTillNumber = Setting(
        flag: "mpesa-till-number", environmentVariable: "KAURI_MPESA_TILL_NUMBER", kind: .string,
        defaultDescription: "(none: paybill)", isSecret: false,
        help: "Buy-goods till number; when set, STK pushes are CustomerBuyGoodsOnline to it.")
    /// Daraja B2C short code.
    public static let mpesaB2CShortCode = Setting(
        flag: "mpesa-b2c-shortcode", environmentVariable: "KAURI_MPESA_B2C_SHORTCODE", kind: .string,
        defaultDescription: "(none)", isSecret: false, help: "B2C short code for refunds and payouts.")
    /// Daraja initiator.
    public static let mpesaInitiatorName = Setting(
        flag: "mpesa-initiator-name", environmentVariable: "KAURI_MPESA_INITIATOR_NAME", kind: .string,
        defaultDescription: "(none)", isSecret: false, help: "B2C initiator (API operator) name.")
    /// Daraja security credential.
    public static let mpesaSecurityCredential = Setting(
        flag: "mpesa-security-credential", environmentVariable: "KAURI_MPESA_SECURITY_CREDENTIAL", kind: .string,
        defaultDescription: "(none)", isSecret: true,
        help: "B2C security credential: the initiator password encrypted with M-Pesa's certificate (from the portal).")
    /// Daraja base URL.
    public static let mpesaBaseURL = Setting(
        flag: "mpesa-base-url", environmentVariable: "KAURI_MPESA_BASE_URL", kind: .string,
        defaultDescription: "https://api.safaricom.co.ke", isSecret: false,
        help: "Daraja base URL (https://sandbox.safaricom.co.ke for Safaricom's sandbox).")
    /// PayHero user.
    public static let payheroUsername = Setting(
        flag: "payhero-username", environmentVariable: "KAURI_PAYHERO_USERNAME", kind: .string,
        defaultDescription: "(sandbox's in sandbox mode)", isSecret: false,
        help: "PayHero API username; with the password and channel id enables the payhero gateway.")
    /// PayHero password.
    public static let payheroPassword = Setting(
        flag: "payhero-password", environmentVariable: "KAURI_PAYHERO_PASSWORD", kind: .string,
        defaultDescription: "(none)", isSecret: true, help: "PayHero API password.")
    /// PayHero channel.
    public static let payheroChannelID = Setting(
        flag: "payhero-channel-id", environmentVariable: "KAURI_PAYHERO_CHANNEL_ID", kind: .integer,
        defaultDescription: "(none)", isSecret: false, help: "PayHero payment channel id.")
    /// PayHero base URL.
    public static let payheroBaseURL = Setting(
        flag: "payhero-base-url", environmentVariable: "KAURI_PAYHERO_BASE_URL", kind: .string,
        defaultDescription: "https://backend.payhero.co.ke/api/v2", isSecret: false,
        help: "Override PayHero's API base URL.")
    /// Payment lifetime.
    public static let paymentLifetimeMinutes = Setting(
        flag: "payment-lifetime-minutes", environmentVariable: "KAURI_PAYMENT_LIFETIME_MINUTES", kind: .integer,
        defaultDescription: "60", isSecret: false,
        help: "Minutes a payment waits for the customer before it expires (1–10080).")
    /// Idempotency retention.
    public static let idempotencyRetentionHours = Setting(
        flag: "idempotency-retention-hours", environmentVariable: "KAURI_IDEMPOTENCY_RETENTION_HOURS", kind: .integer,
        defaultDescription: "24", isSecret: false,
        help: "Hours an Idempotency-Key and its stored response are kept (24–2160).")
    /// Idempotency lease.
    public static let idempotencyLeaseSeconds = Setting(
        flag: "idempotency-lease-seconds", environmentVariable: "KAURI_IDEMPOTENCY_LEASE_SECONDS", kind: .integer,
        defaultDescription: "60", isSecret: false,
        help:
            "Seconds a retry of a request still running (or whose server died) answers 409 before it may run (1–3600).")
    /// Escrow fee percentage.
    public static let escrowFeeBasisPoints = Setting(
        flag: "escrow-fee-basis-points", environmentVariable: "KAURI_ESCROW_FEE_BASIS_POINTS", kind: .integer,
        defaultDescription: "0", isSecret: false,
        help: "The platform's fee on each escrow, in basis points of the amount (150 = 1.5%; 0–10000).")
    /// Escrow fixed fee.
    public static let escrowFeeFixed = Setting(
        flag: "escrow-fee-fixed", environmentVariable: "KAURI_ESCROW_FEE_FIXED", kind: .string,
        defaultDescription: "(none)", isSecret: false,
        help: "A fixed part of the escrow fee per currency, in minor units: `KES:1000,GHS:50`.")
    /// Escrow inspection window.
    public static let escrowInspectionHours = Setting(
        flag: "escrow-inspection-hours", environmentVariable: "KAURI_ESCROW_INSPECTION_HOURS", kind: .integer,
        defaultDescription: "72", isSecret: false,
        help: "Hours a buyer has after delivery to confirm or dispute before the money is released (1–720).")
    /// Checkout risk rules.
    public static let riskRules = Setting(
        flag: "risk-rules", environmentVariable: "KAURI_RISK_RULES", kind: .string,
        defaultDescription: "the defaults in docs/ESCROW.md", isSecret: false,
        help: "The checkout risk check's rules as JSON, e.g. {\"blocked_phones\": [\"+254700000077\"], "
            + "\"buyer_checkouts_per_hour_max\": 5}; keys left out keep their defaults.")
    /// Automatic payouts.
    public static let escrowAutomaticPayouts = Setting(
        flag: "escrow-automatic-payouts", environmentVariable: "KAURI_ESCROW_AUTOMATIC_PAYOUTS", kind: .boolean,
        defaultDescription: "false", isSecret: false,
        help: "Pay released escrow money out to the seller's payout destination at once (true/false); otherwise it "
            + "waits in the payable for POST /v1/payouts.")
    /// Session hold.
    public static let sessionHoldHours = Setting(
        flag: "session-hold-hours", environmentVariable: "KAURI_SESSION_HOLD_HOURS", kind: .integer,
        defaultDescription: "24", isSecret: false,
        help: "Hours a session's money is held after it took place, the client's time to rate it (1–720).")
    /// Session rating shares.
    public static let sessionRatingShares = Setting(
        flag: "session-rating-shares", environmentVariable: "KAURI_SESSION_RATING_SHARES", kind: .string,
        defaultDescription: "5:100,4:100,3:90,2:75,1:50", isSecret: false,
        help: "The partner's percentage of a session for each client rating; the rest is refunded to the client.")
    /// Sandbox port.
    public static let sandboxPort = Setting(
        flag: "sandbox-port", environmentVariable: "KAURI_SANDBOX_PORT", kind: .integer,
        defaultDescription: "0 (any free port)", isSecret: false,
        help: "Sandbox mode: the port of the in-process gateway simulators (`kauri sandbox` runs them alone).")

    /// Every setting of `kauri serve`, in help order.
    public static let all: [Setting] = [
        .host, .port, .dataDirectory, .databaseURL, .databasePoolSize, .mode, .corsAllowedOrigins,
        .requestBodyBytesMax, .accessLog, .logLevel, .shutdownGraceSeconds, .adminAPIKey, .publicURL, .jwtSigningKey,
        .jwtVerificationKeys, .authSecret, .admins, .rateLimit, .authRateLimit, .smsProvider, .smsUsername, .smsAPIKey,
        .smsSender, .smsBaseURL, .emailProvider, .emailFrom, .resendAPIKey, .resendBaseURL, .smtpURL,
        .apiURL, .paystackSecretKey, .paystackBaseURL, .mpesaConsumerKey, .mpesaConsumerSecret, .mpesaShortCode,
        .mpesaPasskey,
        .mpesaTillNumber, .mpesaB2CShortCode, .mpesaInitiatorName, .mpesaSecurityCredential, .mpesaBaseURL,
        .payheroUsername, .payheroPassword, .payheroChannelID, .payheroBaseURL, .paymentLifetimeMinutes,
        .idempotencyRetentionHours, .idempotencyLeaseSeconds, .sandboxPort, .escrowFeeBasisPoints, .escrowFeeFixed,
        .escrowInspectionHours, .riskRules, .sessionHoldHours, .sessionRatingShares,
        .escrowAutomaticPayouts,
    ]

    /// The setting's names for error messages: `--port / KAURI_PORT`.
    public var names: String { "--\(self.flag) / \(self.environmentVariable)" }
}
