import KauriCore
import KauriDatabase
import KauriEscrow
import KauriHTTP
import Logging

/// Everything `kauri serve` can be told, after parsing and validation.
public struct ServerSettings: Sendable {
    /// Whether gateways talk to the local sandbox or to the real providers.
    public enum Mode: String, Sendable, CaseIterable {
        /// Every gateway answers from the local simulators; no account needed anywhere.
        case sandbox
        /// Gateways with credentials talk to the providers' live URLs.
        case live
    }

    /// The address to listen on.
    public var host: String
    /// The port to listen on; 0 picks a free one.
    public var port: Int
    /// Where Kauri keeps its files (the SQLite database, generated keys, uploads).
    public var dataDirectory: String
    /// The PostgreSQL URL, when set; otherwise SQLite in the data directory.
    public var databaseURL: Secret<String>?
    /// How many database connections to keep at most.
    public var databasePoolSize: Int
    /// Sandbox or live.
    public var mode: Mode
    /// Origins allowed to call the API from browsers.
    public var corsAllowedOrigins: Set<String>
    /// Whether to write one access-log line per request.
    public var accessLog: Bool
    /// The lowest log level written.
    public var logLevel: Logger.Level
    /// The named limits.
    public var limits: Limits
    /// The operator's API key (`Authorization: Bearer …`) for admin routes; in sandbox mode, generated into the
    /// data directory when not set.
    public var adminAPIKey: Secret<String>?
    /// The web app's base URL, for links in emails.
    public var publicURL: String?
    /// The Ed25519 seed (base64) that signs access tokens; generated into the data directory in sandbox mode.
    public var jwtSigningKey: Secret<String>?
    /// Older signing keys still accepted for verification.
    public var jwtVerificationKeys: [Secret<String>] = []
    /// The server secret (base64, ≥ 32 bytes); generated into the data directory in sandbox mode.
    public var authSecret: Secret<String>?
    /// Emails and phone numbers that get the admin role at sign-up.
    public var admins: Set<String> = []
    /// Requests per client address; nil: no limit.
    public var rateLimit: RateLimit? = RateLimit(parsing: "1200/minute")
    /// Requests to `/v1/auth/` per client address; nil: no limit.
    public var authRateLimit: RateLimit? = RateLimit(parsing: "60/minute")
    /// Where SMS and email go.
    public var messaging = MessagingSettings()
    /// Payment gateways and payment policies.
    public var payments = PaymentSettings()
    /// The escrow module's policies.
    public var escrow = EscrowSettings()

    /// The defaults: SQLite under `./.kauri`, sandbox mode, 127.0.0.1:8080.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        dataDirectory: String = "./.kauri",
        databaseURL: Secret<String>? = nil,
        databasePoolSize: Int = 8,
        mode: Mode = .sandbox,
        corsAllowedOrigins: Set<String> = [],
        accessLog: Bool = true,
        logLevel: Logger.Level = .info,
        limits: Limits = Limits(),
        adminAPIKey: Secret<String>? = nil
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.databasePoolSize = databasePoolSize
        self.mode = mode
        self.corsAllowedOrigins = corsAllowedOrigins
        self.accessLog = accessLog
        self.logLevel = logLevel
        self.limits = limits
        self.adminAPIKey = adminAPIKey
    }

    /// The path of the admin API key generated in sandbox mode.
    public var adminAPIKeyPath: String { self.dataDirectory + "/admin-api-key" }

    /// The path of the access-token key generated in sandbox mode.
    public var jwtSigningKeyPath: String { self.dataDirectory + "/jwt-signing-key" }

    /// The path of the server secret generated in sandbox mode.
    public var authSecretPath: String { self.dataDirectory + "/auth-secret" }

    /// The path of the SQLite file used when no PostgreSQL URL is set.
    public var sqlitePath: String { self.dataDirectory + "/kauri.sqlite" }

    /// The database these settings select.
    public var database: DatabaseConfiguration {
        if let url = self.databaseURL {
            return .postgres(url: url, poolSize: self.databasePoolSize)
        }
        return .sqlite(path: self.sqlitePath, poolSize: self.databasePoolSize)
    }
}

/// Which providers deliver SMS and email, with their credentials.
public struct MessagingSettings: Sendable {
    /// SMS providers.
    public enum SmsProvider: String, Sendable, CaseIterable {
        case devSink = "dev_sink"
        case hubtel, twilio, africastalking
    }

    /// Email providers.
    public enum EmailProvider: String, Sendable, CaseIterable {
        case devSink = "dev_sink"
        case resend, smtp
    }

    /// The SMS provider; nil: the dev sink in sandbox mode, an error in live mode.
    public var smsProvider: SmsProvider?
    /// Hubtel client id, Twilio account SID, or Africa's Talking username.
    public var smsUsername: String?
    /// Hubtel client secret, Twilio auth token, or Africa's Talking API key.
    public var smsAPIKey: Secret<String>?
    /// Sender id or number.
    public var smsSender: String?
    /// Override of the provider's base URL.
    public var smsBaseURL: String?
    /// The email provider; nil: the dev sink in sandbox mode, an error in live mode.
    public var emailProvider: EmailProvider?
    /// The From address.
    public var emailFrom: String?
    /// Resend's API key.
    public var resendAPIKey: Secret<String>?
    /// Override of Resend's base URL.
    public var resendBaseURL: String?
    /// `smtp://user:pass@host:port` and friends.
    public var smtpURL: Secret<String>?

    /// Nothing configured: the dev sink in sandbox mode.
    public init() {}
}

/// Payment gateways' credentials and the payment policies.
public struct PaymentSettings: Sendable {
    /// This API's public root for callbacks; nil: `http://<host>:<port>`.
    public var apiURL: String?
    public var paystackSecretKey: Secret<String>?
    public var paystackBaseURL: String?
    public var mpesaConsumerKey: String?
    public var mpesaConsumerSecret: Secret<String>?
    public var mpesaShortCode: String?
    public var mpesaPasskey: Secret<String>?
    public var mpesaTillNumber: String?
    public var mpesaB2CShortCode: String?
    public var mpesaInitiatorName: String?
    public var mpesaSecurityCredential: Secret<String>?
    public var mpesaBaseURL: String?
    public var payheroUsername: String?
    public var payheroPassword: Secret<String>?
    public var payheroChannelID: Int?
    public var payheroBaseURL: String?
    /// Minutes a payment waits for the customer.
    public var paymentLifetimeMinutes = 60
    /// Hours an idempotency key is kept.
    public var idempotencyRetentionHours = 24
    /// Seconds a running request's key makes retries wait (409) before one may take over.
    public var idempotencyLeaseSeconds = 60
    /// Sandbox mode: the simulators' port (0: any).
    public var sandboxPort = 0

    /// Nothing configured: the sandbox's gateways in sandbox mode, none in live mode.
    public init() {}
}

/// The escrow module's policies.
public struct EscrowSettings: Sendable {
    /// The fee's percentage part, in basis points.
    public var feeBasisPoints: Int64 = 0
    /// The fee's fixed part per currency, in minor units.
    public var feeFixed: [Currency: Int64] = [:]
    /// Hours a buyer has after delivery before the money is released.
    public var inspectionHours = 72
    /// The checkout risk check's rules.
    public var riskRules = RiskRules()
    /// Whether released money is paid out to the seller's destination at once.
    public var automaticPayouts = false
    /// Hours a session's money is held after it took place.
    public var sessionHoldHours = 24
    /// A session's split by its rating.
    public var sessionShares = SessionShares.standard

    /// No fee, a 72-hour inspection window, a 24-hour session hold.
    public init() {}
}
