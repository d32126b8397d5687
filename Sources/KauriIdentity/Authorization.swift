import Hummingbird
import HummingbirdAuth
import KauriCore
import KauriHTTP

/// Turns `Authorization: Bearer <access token>` into the request's caller.
///
/// A JWT-shaped bearer token that does not verify (forged, expired, revoked) leaves the request anonymous and
/// records why: routes that need a caller answer 401 with that specific code, public routes (sign-in, refresh)
/// still work for a client that sends its stale token along. Other bearer values (the admin key, already handled by `AdminKeyAuthenticator`, or a refresh token
/// sent by mistake) pass through without a caller, so routes that need one answer `auth.unauthenticated`.
public struct AccessTokenAuthenticator: RouterMiddleware {
    public typealias Context = AppRequestContext
    let identity: Identity

    /// Authenticates with `identity`'s tokens.
    public init(identity: Identity) {
        self.identity = identity
    }

    public func handle(
        _ request: Request, context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard context.caller == nil, let header = request.headers[.authorization], header.hasPrefix("Bearer ")
        else { return try await next(request, context) }
        let token = header.dropFirst(7)
        guard token.utf8.count <= 4_096, token.utf8.lazy.filter({ $0 == UInt8(ascii: ".") }).count == 2 else {
            return try await next(request, context)
        }
        var context = context
        do {
            let (caller, claims) = try await self.identity.authenticate(accessToken: String(token))
            var withSession = caller
            withSession.sessionID = claims.sessionID
            // Session ids are UUIDv7s made from the clock at sign-in: they carry the sign-in time.
            withSession.authenticatedAt = SessionID(claims.sessionID).map {
                Timestamp(unixMilliseconds: $0.uuid.unixMilliseconds)
            }
            context.caller = withSession
        } catch let error as APIError {
            context.authenticationFailure = error
        }
        return try await next(request, context)
    }
}

/// Allows callers whose trial has not ended (or who have none). Admins always pass.
public struct PaidAccessPolicy: AuthorizationPolicy {
    public typealias Identity = Caller
    let clock: any WallClock

    /// A policy judged by `clock`.
    public init(clock: any WallClock) {
        self.clock = clock
    }

    public func isAuthorized(identity: Caller, request: Request) async throws -> Bool {
        guard let ends = identity.trialEndsAt, !identity.roles.contains(.admin) else { return true }
        return self.clock.now() < ends
    }
}

/// The route policies Kauri uses, built from hummingbird-auth's `RolePolicy` and combinators.
public enum RoutePolicies {
    /// Staff only.
    public static let admin = RolePolicy<Caller>(.admin)
    /// Sellers (and admins acting for them).
    public static var seller: some AuthorizationPolicy<Caller> {
        anyOf {
            RolePolicy<Caller>(.seller)
            RolePolicy<Caller>(.admin)
        }
    }
    /// Partners (and admins acting for them).
    public static var partner: some AuthorizationPolicy<Caller> {
        anyOf {
            RolePolicy<Caller>(.partner)
            RolePolicy<Caller>(.admin)
        }
    }
}

extension AppRequestContext {
    /// The caller, if `policy` allows them; else 401 (no caller) or `denied` (403 `auth.forbidden` by default).
    @discardableResult
    public func require<Policy: AuthorizationPolicy>(
        _ policy: Policy, request: Request, denied: APIError = APIError(.forbidden)
    ) async throws -> Caller where Policy.Identity == Caller {
        let caller = try self.requireCaller()
        guard try await policy.isAuthorized(identity: caller, request: request) else { throw denied }
        return caller
    }

    /// The caller, if their trial has not ended; else 402 `account.trial_expired`. For routes of paid accounts.
    @discardableResult
    public func requirePaidAccess(request: Request, clock: any WallClock) async throws -> Caller {
        try await self.require(
            PaidAccessPolicy(clock: clock), request: request,
            denied: APIError(.trialExpired, detail: "the free trial has ended; this needs a paid account"))
    }

    /// The signed-in user's id (401 for anonymous callers, 403 for the admin API key, which is not a user).
    public func requireUser() throws -> UserID {
        let caller = try self.requireCaller()
        guard let id = UserID(caller.ownerReference) else {
            throw APIError(.forbidden, detail: "this route needs a signed-in user, not an API key")
        }
        return id
    }
}
