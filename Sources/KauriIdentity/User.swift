import KauriCore
import KauriHTTP
import SQLKit

/// Identifiers of users: `usr_…`.
public enum UserIDKind: IDKind {
    public static let prefix = "usr"
}

/// Identifiers of sessions (refresh-token families): `ses_…`.
public enum SessionIDKind: IDKind {
    public static let prefix = "ses"
}

/// Identifiers of one-time-code challenges: `otp_…`.
public enum ChallengeIDKind: IDKind {
    public static let prefix = "otp"
}

/// Identifiers of emailed tokens: `etk_…`.
public enum EmailTokenIDKind: IDKind {
    public static let prefix = "etk"
}

/// A user id.
public typealias UserID = PrefixedID<UserIDKind>
/// A session id.
public typealias SessionID = PrefixedID<SessionIDKind>

/// A person who signs in: by phone (one-time code), by email and password, or both.
public struct User: Sendable, Hashable {
    /// The id.
    public var id: UserID
    /// The verified phone number, E.164.
    public var phone: String?
    /// The email address (normalised to lower case).
    public var email: String?
    /// When the email address was verified.
    public var emailVerifiedAt: Timestamp?
    /// A new address waiting for verification.
    public var pendingEmail: String?
    /// The bcrypt hash, when the user has a password.
    public var passwordHash: String?
    /// The display name.
    public var name: String?
    /// What the user may do.
    public var roles: Set<Role>
    /// When free access ends (routes for paid accounts answer 402 after it).
    public var trialEndsAt: Timestamp?
    /// The sealed TOTP secret (enrolled or enabled).
    public var totpSecret: String?
    /// When TOTP was confirmed; nil while only enrolled or off.
    public var totpEnabledAt: Timestamp?
    /// The last TOTP time step accepted (a code works once).
    public var totpLastStep: Int64?
    /// Consecutive failed password sign-ins.
    public var failedLogins: Int
    /// Password sign-in is paused until then.
    public var lockedUntil: Timestamp?
    /// Access tokens issued before this are refused (password reset, disable).
    public var sessionsNotBefore: Timestamp
    /// When an admin disabled the account.
    public var disabledAt: Timestamp?
    /// Created.
    public var createdAt: Timestamp
    /// Last changed.
    public var updatedAt: Timestamp

    init(row: any SQLRow) throws {
        func time(_ column: String) throws -> Timestamp? {
            try row.decode(column: column, as: Int64?.self).map { Timestamp(unixMilliseconds: UInt64($0)) }
        }
        guard let id = UserID(try row.decode(column: "id", as: String.self)) else {
            throw IdentityStoreError.corruptRow("users.id")
        }
        self.id = id
        self.phone = try row.decode(column: "phone", as: String?.self)
        self.email = try row.decode(column: "email", as: String?.self)
        self.emailVerifiedAt = try time("email_verified_at")
        self.pendingEmail = try row.decode(column: "pending_email", as: String?.self)
        self.passwordHash = try row.decode(column: "password_hash", as: String?.self)
        self.name = try row.decode(column: "name", as: String?.self)
        self.roles = Roles.parse(try row.decode(column: "roles", as: String.self))
        self.trialEndsAt = try time("trial_ends_at")
        self.totpSecret = try row.decode(column: "totp_secret", as: String?.self)
        self.totpEnabledAt = try time("totp_enabled_at")
        self.totpLastStep = try row.decode(column: "totp_last_step", as: Int64?.self)
        self.failedLogins = try row.decode(column: "failed_logins", as: Int.self)
        self.lockedUntil = try time("locked_until")
        self.sessionsNotBefore = try time("sessions_not_before") ?? Timestamp(unixMilliseconds: 0)
        self.disabledAt = try time("disabled_at")
        self.createdAt = try time("created_at") ?? Timestamp(unixMilliseconds: 0)
        self.updatedAt = try time("updated_at") ?? Timestamp(unixMilliseconds: 0)
    }
}

/// The stored form of a role set: sorted, comma-separated.
enum Roles {
    static func parse(_ text: String) -> Set<Role> {
        Set(text.split(separator: ",").map { Role(rawValue: String($0)) })
    }

    static func format(_ roles: Set<Role>) -> String {
        roles.map(\.rawValue).sorted().joined(separator: ",")
    }

    /// The roles a user may be given.
    static let assignable: Set<Role> = [.customer, .seller, .partner, .admin]
}

/// A row that cannot be read back: a bug or manual tampering.
enum IdentityStoreError: Error, CustomStringConvertible {
    case corruptRow(String)

    var description: String {
        switch self {
        case .corruptRow(let column): "unreadable value in \(column)"
        }
    }
}

extension Timestamp {
    /// Milliseconds since the epoch as the databases store them.
    var stored: Int64 { Int64(self.unixMilliseconds) }

    /// `self` plus whole seconds.
    func adding(seconds: Int) -> Timestamp { self.adding(milliseconds: UInt64(seconds) * 1_000) }
}
