import KauriCore
import Synchronization

/// Tokens whose signature already verified, so a client's next requests with the same token skip the Ed25519
/// check. Only the signature result is cached: the claims (expiry above all) are checked on every request.
final class VerifiedTokenCache<Payload: Sendable>: Sendable {
    private let entries = Mutex<[String: Payload]>([:])
    private let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    func payload(for token: String) -> Payload? {
        self.entries.withLock { $0[token] }
    }

    func insert(_ payload: Payload, for token: String) {
        self.entries.withLock { entries in
            // Tokens live ten minutes; starting over when full is simpler than an LRU and costs one verify each.
            if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = payload
        }
    }
}

/// What an access-token check needs to know about its session and user, read from the database at most once a
/// second per session. Every revocation and every change to a user made through this instance clears the cache at
/// once; another instance (several servers on one PostgreSQL) sees it within `timeToLive`.
final class SessionStateCache: Sendable {
    struct State: Sendable {
        /// The user as stored (roles, trial, not-before, disabled — and what `GET /v1/me` shows).
        var user: User
        /// Whether the session was ended.
        var revoked: Bool
    }

    static let timeToLive: Duration = .seconds(1)
    private let entries = Mutex<[String: (State, ContinuousClock.Instant)]>([:])
    private let capacity = 50_000

    func state(session: String, user: String) -> State? {
        let now = ContinuousClock.now
        return self.entries.withLock { entries in
            guard let (state, fetched) = entries[session + "|" + user], now - fetched < Self.timeToLive else {
                return nil
            }
            return state
        }
    }

    func insert(_ state: State, session: String, user: String) {
        let now = ContinuousClock.now
        self.entries.withLock { entries in
            if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[session + "|" + user] = (state, now)
        }
    }

    /// Forgets everything (after any revocation, role or trial change).
    func removeAll() {
        self.entries.withLock { $0.removeAll(keepingCapacity: true) }
    }
}
