import Crypto
import Foundation
import HTTPTypes
import KauriCore
import KauriDatabase
import KauriHTTP
import SQLKit

/// Where a sign-in comes from, kept with the session.
public struct ClientInfo: Sendable, Hashable {
    /// The peer's IP address.
    public var address: String?
    /// The `User-Agent` header, cut to 200 characters.
    public var userAgent: String?

    /// Client details.
    public init(address: String?, userAgent: String?) {
        self.address = address
        self.userAgent = userAgent.map { String($0.prefix(200)) }
    }
}

/// A successful sign-in or refresh: the token pair and the user.
public struct SignIn: Sendable {
    /// The JWT for `Authorization: Bearer`.
    public var accessToken: String
    /// The opaque token for `POST /v1/auth/refresh`; shown once.
    public var refreshToken: String
    /// Seconds until the access token expires.
    public var expiresIn: Int
    /// The session (refresh-token family).
    public var sessionID: SessionID
    /// Who signed in.
    public var user: User
}

/// One of a user's sessions, as `GET /v1/me/sessions` lists it.
public struct SessionInfo: Sendable, Hashable {
    /// The id.
    public var id: SessionID
    /// How it began: `otp`, `password`.
    public var method: String
    /// The client's address at sign-in.
    public var clientAddress: String?
    /// The client's user agent at sign-in.
    public var userAgent: String?
    /// Began.
    public var createdAt: Timestamp
    /// Last refreshed.
    public var lastUsedAt: Timestamp
    /// Ends unless refreshed.
    public var expiresAt: Timestamp
}

extension Identity {
    // MARK: Starting sessions

    /// Opens a session for `user` inside the caller's transaction and returns its first refresh token.
    func startSession(
        for user: User, method: String, client: ClientInfo, now: Timestamp, on connection: any SQLDatabase
    ) async throws -> (SessionID, String) {
        let session = self.ids.make(SessionIDKind.self)
        let expires = now.adding(seconds: self.configuration.sessionSeconds)
        try await connection.raw(
            """
            INSERT INTO sessions (id, user_id, method, client_address, user_agent, created_at, last_used_at,
                expires_at)
            VALUES (\(bind: session.description), \(bind: user.id.description), \(bind: method),
                \(bind: client.address), \(bind: client.userAgent), \(bind: now.stored), \(bind: now.stored),
                \(bind: expires.stored))
            """
        ).run()
        let refreshToken = "rt_" + Self.randomToken()
        try await self.storeRefreshToken(refreshToken, session: session, now: now, on: connection)
        return (session, refreshToken)
    }

    private func storeRefreshToken(
        _ token: String, session: SessionID, now: Timestamp, on connection: any SQLDatabase
    ) async throws {
        let expires = now.adding(seconds: self.configuration.sessionSeconds)
        try await connection.raw(
            """
            INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
            VALUES (\(bind: self.tokenHash(token)), \(bind: session.description), \(bind: now.stored),
                \(bind: expires.stored))
            """
        ).run()
    }

    /// The token pair for a session whose refresh token is `refreshToken`.
    func signIn(user: User, session: SessionID, refreshToken: String) async throws -> SignIn {
        let (accessToken, _) = try await self.accessTokens.issue(
            userID: user.id.description, sessionID: session.description)
        return SignIn(
            accessToken: accessToken, refreshToken: refreshToken, expiresIn: self.accessTokens.lifetimeSeconds,
            sessionID: session, user: user)
    }

    /// The successor of a refresh token is derived from it, so a client retrying a lost refresh response can be
    /// given the same successor again without the server ever storing a token in plain text.
    func successor(of token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("successor:" + token).utf8), using: self.tokenKey)
        return "rt_"
            + Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    // MARK: Refresh

    private enum RefreshOutcome: Sendable {
        case rotated(User, SessionID, String)
        case failed(APIError)
    }

    /// Rotates a refresh token: the old one stops working and a new pair is returned. Presenting a rotated token
    /// again revokes the whole session, except an immediate retry by the same client (same address and user
    /// agent, within the grace window, before the successor was used), which gets the same successor.
    public func refresh(_ token: String, client: ClientInfo) async throws -> SignIn {
        guard token.hasPrefix("rt_"), token.utf8.count < 100 else { throw APIError(.tokenInvalid) }
        let now = self.clock.now()
        let hash = self.tokenHash(token)
        let successor = self.successor(of: token)
        let lock = self.database.kind == .postgres ? "FOR UPDATE OF r" : ""
        let grace = UInt64(self.configuration.refreshRetryGraceSeconds) * 1_000
        let fingerprint = "\(client.address ?? "")|\(client.userAgent ?? "")"
        let outcome: RefreshOutcome = try await self.database.transaction { connection in
            guard
                let row = try await connection.raw(
                    """
                    SELECT r.session_id, r.expires_at, r.used_at, r.used_by, s.user_id, s.revoked_at
                    FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
                    WHERE r.token_hash = \(bind: hash) \(unsafeRaw: lock)
                    """
                ).first()
            else { return .failed(APIError(.tokenInvalid)) }
            let sessionText = try row.decode(column: "session_id", as: String.self)
            guard let session = SessionID(sessionText),
                let userID = UserID(try row.decode(column: "user_id", as: String.self))
            else { throw IdentityStoreError.corruptRow("refresh_tokens") }
            if try row.decode(column: "revoked_at", as: Int64?.self) != nil {
                return .failed(APIError(.sessionRevoked))
            }
            if let usedAt = try row.decode(column: "used_at", as: Int64?.self) {
                let successorUnused =
                    try await connection.raw(
                        """
                        SELECT 1 AS present FROM refresh_tokens
                        WHERE token_hash = \(bind: self.tokenHash(successor)) AND used_at IS NULL
                        """
                    ).first() != nil
                let sameClient = try row.decode(column: "used_by", as: String?.self) == fingerprint
                if successorUnused && sameClient && now.unixMilliseconds <= UInt64(usedAt) + grace,
                    let user = try await Self.user(userID, on: connection), user.disabledAt == nil
                {
                    return .rotated(user, session, successor)
                }
                try await Self.revokeSession(session, reason: "refresh_token_reused", now: now, on: connection)
                return .failed(APIError(.refreshTokenReused, detail: "the session was ended; sign in again"))
            }
            if try row.decode(column: "expires_at", as: Int64.self) <= now.stored {
                return .failed(APIError(.tokenExpired, detail: "the refresh token expired; sign in again"))
            }
            guard let user = try await Self.user(userID, on: connection), user.disabledAt == nil else {
                return .failed(APIError(.sessionRevoked))
            }
            try await connection.raw(
                """
                UPDATE refresh_tokens SET used_at = \(bind: now.stored), used_by = \(bind: fingerprint)
                WHERE token_hash = \(bind: hash)
                """
            ).run()
            try await self.storeRefreshToken(successor, session: session, now: now, on: connection)
            let expires = now.adding(seconds: self.configuration.sessionSeconds)
            try await connection.raw(
                """
                UPDATE sessions SET last_used_at = \(bind: now.stored), expires_at = \(bind: expires.stored)
                WHERE id = \(bind: sessionText)
                """
            ).run()
            return .rotated(user, session, successor)
        }
        switch outcome {
        case .rotated(let user, let session, let refreshToken):
            return try await self.signIn(user: user, session: session, refreshToken: refreshToken)
        case .failed(let error):
            if error.code == .refreshTokenReused {
                self.sessionStates.removeAll()
                self.logger.warning(
                    "refresh token reuse: session revoked", metadata: ["hash_prefix": "\(hash.prefix(8))"])
            }
            throw error
        }
    }

    // MARK: Access tokens

    /// Checks an access token and the session behind it; returns the caller it stands for.
    ///
    /// The signature and claims are checked first (no database work for forged tokens), then one indexed read
    /// confirms the session is live, the user is enabled, and the token is not older than a password reset.
    public func authenticate(accessToken: String) async throws -> (Caller, AccessTokenClaims) {
        let claims: AccessTokenClaims
        do {
            claims = try await self.accessTokens.verify(accessToken)
        } catch .expired {
            throw APIError(.tokenExpired, headers: Self.bearerChallenge(error: "invalid_token"))
        } catch {
            throw APIError(.tokenInvalid, headers: Self.bearerChallenge(error: "invalid_token"))
        }
        let state: SessionStateCache.State
        if let cached = self.sessionStates.state(session: claims.sessionID, user: claims.userID) {
            state = cached
        } else {
            let row = try await self.database.withConnection { connection in
                try await connection.raw(
                    """
                    SELECT u.*, s.revoked_at AS session_revoked_at
                    FROM sessions s JOIN users u ON u.id = s.user_id
                    WHERE s.id = \(bind: claims.sessionID) AND s.user_id = \(bind: claims.userID)
                    """
                ).first()
            }
            guard let row else { throw APIError(.tokenInvalid, headers: Self.bearerChallenge(error: "invalid_token")) }
            state = SessionStateCache.State(
                user: try User(row: row), revoked: try row.decode(column: "session_revoked_at", as: Int64?.self) != nil)
            self.sessionStates.insert(state, session: claims.sessionID, user: claims.userID)
        }
        if state.revoked || state.user.disabledAt != nil
            || claims.issuedAt.unixMilliseconds < state.user.sessionsNotBefore.unixMilliseconds / 1_000 * 1_000
        {
            throw APIError(.sessionRevoked, headers: Self.bearerChallenge(error: "invalid_token"))
        }
        let caller = Caller(
            ownerReference: claims.userID, roles: state.user.roles, trialEndsAt: state.user.trialEndsAt)
        return (caller, claims)
    }

    /// The signed-in user of a request, as its access-token check just read it (at most a second old, and never
    /// older than a change made through this instance); from the database when not cached.
    public func user(_ id: UserID, session: String?) async throws -> User? {
        if let session, let state = self.sessionStates.state(session: session, user: id.description) {
            return state.user
        }
        return try await self.user(id)
    }

    static func bearerChallenge(error: String) -> HTTPFields {
        [.wwwAuthenticate: #"Bearer realm="kauri", error="\#(error)""#]
    }

    // MARK: Ending sessions

    /// Ends one session of `userID`'s; another user's session answers 404.
    public func endSession(_ session: SessionID, of userID: UserID, reason: String = "logout") async throws {
        let now = self.clock.now()
        let found = try await self.database.transaction { connection in
            let owner = try await connection.raw(
                "SELECT user_id FROM sessions WHERE id = \(bind: session.description)"
            ).first()?.decode(column: "user_id", as: String.self)
            guard owner == userID.description else { return false }
            try await Self.revokeSession(session, reason: reason, now: now, on: connection)
            return true
        }
        self.sessionStates.removeAll()
        guard found else { throw APIError(.sessionNotFound) }
    }

    /// The live sessions of a user, newest first.
    public func sessions(of userID: UserID) async throws -> [SessionInfo] {
        let now = self.clock.now().stored
        return try await self.database.withConnection { connection in
            try await connection.raw(
                """
                SELECT * FROM sessions
                WHERE user_id = \(bind: userID.description) AND revoked_at IS NULL AND expires_at > \(bind: now)
                ORDER BY created_at DESC, id DESC
                """
            ).all().map { row in
                func time(_ column: String) throws -> Timestamp {
                    Timestamp(unixMilliseconds: UInt64(try row.decode(column: column, as: Int64.self)))
                }
                guard let id = SessionID(try row.decode(column: "id", as: String.self)) else {
                    throw IdentityStoreError.corruptRow("sessions.id")
                }
                return SessionInfo(
                    id: id, method: try row.decode(column: "method", as: String.self),
                    clientAddress: try row.decode(column: "client_address", as: String?.self),
                    userAgent: try row.decode(column: "user_agent", as: String?.self),
                    createdAt: try time("created_at"), lastUsedAt: try time("last_used_at"),
                    expiresAt: try time("expires_at"))
            }
        }
    }

    static func revokeSession(
        _ session: SessionID, reason: String, now: Timestamp, on connection: any SQLDatabase
    ) async throws {
        try await connection.raw(
            """
            UPDATE sessions SET revoked_at = \(bind: now.stored), revoked_reason = \(bind: reason)
            WHERE id = \(bind: session.description) AND revoked_at IS NULL
            """
        ).run()
    }

    static func revokeSessions(
        of userID: UserID, reason: String, now: Timestamp, on connection: any SQLDatabase
    ) async throws {
        try await connection.raw(
            """
            UPDATE sessions SET revoked_at = \(bind: now.stored), revoked_reason = \(bind: reason)
            WHERE user_id = \(bind: userID.description) AND revoked_at IS NULL
            """
        ).run()
    }
}
