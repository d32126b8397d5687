import Hummingbird
import HummingbirdAuth
import KauriCore

/// Who is making a request, once an authenticator recognised its credentials.
public struct Caller: Sendable, Hashable {
    /// The reference that owns resources (ledger accounts, payments): a user id, or `platform` for the operator.
    public var ownerReference: String
    /// What the caller may do.
    public var roles: Set<Role>
    /// When the caller's free trial ends; after it, routes for paid accounts answer 402. Nil: no trial limit.
    public var trialEndsAt: Timestamp?
    /// The session an access token belongs to (nil for the admin API key).
    public var sessionID: String?
    /// When that session signed in (a refresh keeps it); nil for the admin API key.
    public var authenticatedAt: Timestamp?

    /// Describes a caller.
    public init(ownerReference: String, roles: Set<Role>, trialEndsAt: Timestamp? = nil, sessionID: String? = nil) {
        self.ownerReference = ownerReference
        self.roles = roles
        self.trialEndsAt = trialEndsAt
        self.sessionID = sessionID
    }

    /// The operator, authenticated by the admin API key.
    public static let platformAdmin = Caller(ownerReference: "platform", roles: [.admin])
}

/// Callers carry roles, so hummingbird-auth's `RolePolicy` and its combinators apply to them.
extension Caller: RoleProviding {}

/// A role; routes require roles through `AppRequestContext.requireRole(_:)`.
public struct Role: RawRepresentable, Hashable, Sendable, Codable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// A buyer.
    public static let customer = Role(rawValue: "customer")
    /// A seller of goods.
    public static let seller = Role(rawValue: "seller")
    /// A service partner (tutor, driver).
    public static let partner = Role(rawValue: "partner")
    /// The operator's staff and the admin API key.
    public static let admin = Role(rawValue: "admin")
}

extension ErrorCode {
    /// No credentials, or credentials no authenticator accepts.
    public static let unauthenticated = ErrorCode("auth.unauthenticated", status: 401, title: "Authentication required")
    /// Authenticated, but without the role the route needs.
    public static let forbidden = ErrorCode("auth.forbidden", status: 403, title: "Forbidden")
}

extension ErrorCode {
    /// The action needs a recent sign-in (a step-up), and the caller's session is older.
    public static let reauthenticationRequired = ErrorCode(
        "auth.reauthentication_required", status: 403, title: "Sign in again to do this")
}

extension AppRequestContext {
    /// The authenticated caller, provided their session signed in within `window` of `now` (a step-up for sensitive
    /// changes such as where payouts go); the admin API key always passes. Else 403
    /// `auth.reauthentication_required` (or 401 without credentials).
    public func requireRecentAuthentication(within window: Duration, now: Timestamp) throws(APIError) -> Caller {
        let caller = try self.requireCaller()
        guard caller.sessionID != nil else { return caller }
        let windowMilliseconds = UInt64(window.components.seconds) * 1_000
        guard let signedIn = caller.authenticatedAt,
            signedIn.unixMilliseconds + windowMilliseconds >= now.unixMilliseconds
        else {
            throw APIError(
                .reauthenticationRequired,
                detail: "sign in again (by code or password); this needs a sign-in within the last "
                    + "\(window.components.seconds / 60) minutes")
        }
        return caller
    }

    /// The authenticated caller, or 401: why the credentials were refused, else `auth.unauthenticated`.
    public func requireCaller() throws(APIError) -> Caller {
        guard let caller = self.caller else {
            if let failure = self.authenticationFailure { throw failure }
            throw APIError(.unauthenticated, headers: [.wwwAuthenticate: #"Bearer realm="kauri""#])
        }
        return caller
    }

    /// The authenticated caller holding `role`, or 401 / 403 `auth.forbidden`.
    @discardableResult
    public func requireRole(_ role: Role) throws(APIError) -> Caller {
        let caller = try self.requireCaller()
        guard caller.roles.contains(role) else {
            throw APIError(.forbidden, detail: "this operation needs the \(role.rawValue) role")
        }
        return caller
    }
}

/// Accepts `Authorization: Bearer <admin API key>` and makes the request's caller the platform admin.
///
/// The key is compared in constant time. Other bearer tokens pass through untouched for later authenticators;
/// a route that needs a caller answers 401 if none recognised the request.
public struct AdminKeyAuthenticator: RouterMiddleware {
    public typealias Context = AppRequestContext
    private let key: [UInt8]?

    /// With `key` nil, nothing is accepted (the admin API is off).
    public init(key: String?) {
        self.key = key.map { Array($0.utf8) }
    }

    public func handle(
        _ request: Request, context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let key = self.key, let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return try await next(request, context)
        }
        var context = context
        if ConstantTime.isEqual(Array(header.utf8.dropFirst(7)), key) {
            context.caller = .platformAdmin
        }
        return try await next(request, context)
    }
}
