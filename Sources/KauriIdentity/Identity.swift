import Crypto
import Foundation
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriMessaging
import Logging
import SQLKit

/// The rules of sign-in, in one place. The defaults follow the issue and reliability.md §4 / §7E.
public struct IdentityConfiguration: Sendable {
    /// `iss` of access tokens.
    public var issuer: String = "kauri"
    /// `aud` of access tokens.
    public var audience: String = "kauri-api"
    /// Access-token lifetime (≤ 15 minutes).
    public var accessTokenSeconds: Int = 600
    /// Refresh-token (and session) lifetime.
    public var sessionSeconds: Int = 30 * 24 * 3600
    /// A rotated refresh token presented again within this window, before its successor was used, gets the same
    /// successor (a client retrying after a lost response) instead of revoking the session.
    public var refreshRetryGraceSeconds: Int = 10
    /// One-time code lifetime.
    public var codeSeconds: Int = 300
    /// Wrong codes before a challenge is burned.
    public var codeAttemptsMax: Int = 5
    /// Codes per phone per `codesPerPhoneWindowSeconds`.
    public var codesPerPhone: Int = 3
    /// The window of `codesPerPhone`.
    public var codesPerPhoneWindowSeconds: Int = 300
    /// Codes per phone per day.
    public var codesPerPhonePerDay: Int = 10
    /// Codes requested from one client address per hour.
    public var codesPerClientPerHour: Int = 20
    /// Consecutive password failures that pause password sign-in.
    public var lockoutThreshold: Int = 10
    /// How long the pause lasts.
    public var lockoutSeconds: Int = 900
    /// Email verification link lifetime.
    public var emailVerificationSeconds: Int = 24 * 3600
    /// Password reset link lifetime.
    public var passwordResetSeconds: Int = 3600
    /// The web address links in emails point at (`<url>/verify-email?token=…`); without it emails carry the token.
    public var publicURL: String?
    /// The name in messages and in authenticator apps.
    public var productName: String = "Kauri"
    /// Who gets the `admin` role when they sign up (verified email or phone, from configuration).
    public var bootstrapAdmins: Set<String> = []

    /// The defaults.
    public init() {}
}

/// The secrets identity runs on: the access-token signing key and the server secret every MAC and sealed
/// value derives from.
public struct IdentityKeys: Sendable {
    /// Signs access tokens.
    public var signingKey: SigningKey
    /// Older signing keys whose tokens still verify (rotation).
    public var verificationKeys: [SigningKey]
    /// Keys one-time codes, token hashes, recovery codes and sealed secrets.
    public var authSecret: AuthSecret

    /// The keys.
    public init(signingKey: SigningKey, verificationKeys: [SigningKey] = [], authSecret: AuthSecret) {
        self.signingKey = signingKey
        self.verificationKeys = verificationKeys
        self.authSecret = authSecret
    }

    /// Fresh random keys (tests, and sandbox mode's first start).
    public static func generate() -> IdentityKeys {
        IdentityKeys(signingKey: .generate(), authSecret: .generate())
    }
}

/// The identity service: phone one-time codes, email and password, sessions with rotating refresh tokens, TOTP,
/// and profiles. Routes call it; it owns the identity tables and writes messages through the outbox in the same
/// transaction as the codes and tokens they carry.
public final class Identity: Sendable {
    let database: Database
    let outbox: Outbox
    let clock: any WallClock
    let ids: IDGenerator
    let logger: Logger
    let configuration: IdentityConfiguration
    /// Issues and verifies access tokens.
    public let accessTokens: AccessTokens
    let passwords: PasswordHasher
    let codeKey: SymmetricKey
    let tokenKey: SymmetricKey
    let recoveryKey: SymmetricKey
    let totpBox: SecretBox
    let sessionStates = SessionStateCache()

    /// Creates the service. Migrations (`IdentityMigrations.all`) must have run.
    public init(
        database: Database, outbox: Outbox, keys: IdentityKeys, passwords: PasswordHasher, clock: any WallClock,
        ids: IDGenerator, logger: Logger, configuration: IdentityConfiguration = .init()
    ) {
        self.database = database
        self.outbox = outbox
        self.clock = clock
        self.ids = ids
        self.logger = logger
        self.configuration = configuration
        self.passwords = passwords
        self.accessTokens = AccessTokens(
            signingKey: keys.signingKey, verificationKeys: keys.verificationKeys, issuer: configuration.issuer,
            audience: configuration.audience, lifetimeSeconds: configuration.accessTokenSeconds, clock: clock)
        self.codeKey = keys.authSecret.key(for: "kauri.identity.otp-code")
        self.tokenKey = keys.authSecret.key(for: "kauri.identity.token-hash")
        self.recoveryKey = keys.authSecret.key(for: "kauri.identity.recovery-code")
        self.totpBox = SecretBox(key: keys.authSecret.key(for: "kauri.identity.totp-secret"))
    }

    // MARK: Users

    /// The user with `id`.
    public func user(_ id: UserID) async throws -> User? {
        try await self.database.withConnection { connection in
            try await Self.user(id, on: connection)
        }
    }

    static func user(_ id: UserID, on connection: any SQLDatabase, forUpdate: Bool = false) async throws -> User? {
        let lock = forUpdate && connection.dialect.name == "postgresql" ? " FOR UPDATE" : ""
        return try await connection.raw("SELECT * FROM users WHERE id = \(bind: id.description)\(unsafeRaw: lock)")
            .first().map(User.init(row:))
    }

    static func user(column: String, equals value: String, on connection: any SQLDatabase) async throws -> User? {
        try await connection.raw("SELECT * FROM users WHERE \(ident: column) = \(bind: value)")
            .first().map(User.init(row:))
    }

    /// Changes a user's roles, trial end or disabled state (admin). Disabling ends every session.
    public func updateUser(
        _ id: UserID, roles: Set<Role>?, trialEndsAt: Timestamp??, disabled: Bool?
    ) async throws -> User {
        let now = self.clock.now()
        let user = try await self.database.transaction { connection in
            guard var user = try await Self.user(id, on: connection, forUpdate: true) else {
                throw APIError(.userNotFound)
            }
            if let roles { user.roles = roles }
            if let trialEndsAt { user.trialEndsAt = trialEndsAt }
            if let disabled {
                if disabled && user.disabledAt == nil {
                    user.disabledAt = now
                    user.sessionsNotBefore = now
                    try await Self.revokeSessions(of: id, reason: "account_disabled", now: now, on: connection)
                } else if !disabled {
                    user.disabledAt = nil
                }
            }
            try await connection.raw(
                """
                UPDATE users SET roles = \(bind: Roles.format(user.roles)),
                    trial_ends_at = \(bind: user.trialEndsAt?.stored), disabled_at = \(bind: user.disabledAt?.stored),
                    sessions_not_before = \(bind: user.sessionsNotBefore.stored), updated_at = \(bind: now.stored)
                WHERE id = \(bind: id.description)
                """
            ).run()
            return user
        }
        self.sessionStates.removeAll()
        return user
    }

    // MARK: Secrets

    /// A URL-safe random token with `bytes` bytes of entropy.
    static func randomToken(bytes: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The stored form of a high-entropy token: hex HMAC-SHA256 under the server secret.
    func tokenHash(_ token: String) -> String {
        Self.hex(HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: self.tokenKey))
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
