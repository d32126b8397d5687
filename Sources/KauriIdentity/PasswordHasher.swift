import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// Hashes and verifies passwords with bcrypt, off the caller's executor.
///
/// bcrypt is deliberately slow (cost 12 is a few hundred milliseconds), so every hash and verify runs on the
/// injected `NIOThreadPool`, never on a Swift concurrency or event-loop thread. Passwords longer than bcrypt's
/// 72-byte limit are refused rather than silently truncated (see `PasswordPolicy`), and so are passwords with a
/// NUL byte, which the C implementation would cut short.
public struct PasswordHasher: Sendable {
    /// Why a password could not be hashed.
    public enum Error: Swift.Error, Sendable, Hashable {
        /// Longer than `PasswordPolicy.maximumBytes` or containing a NUL byte: bcrypt would not hash all of it.
        case unsupportedPassword
    }

    /// The bcrypt cost (log2 of the rounds) of new hashes.
    public let cost: UInt8
    private let threadPool: NIOThreadPool
    private let dummy: DummyHash

    /// Creates a hasher.
    ///
    /// - Parameters:
    ///   - cost: The bcrypt cost, 4...31; production uses at least 12 (reliability.md §7E.18), tests may use 4.
    ///   - threadPool: Where the hashing runs.
    public init(cost: UInt8 = 12, threadPool: NIOThreadPool) {
        precondition((4...31).contains(cost), "bcrypt cost must be between 4 and 31")
        self.cost = cost
        self.threadPool = threadPool
        self.dummy = DummyHash()
    }

    /// A new salted bcrypt hash (`$2b$<cost>$...`) of the password.
    public func hash(_ password: String) async throws -> String {
        guard Self.isHashable(password) else { throw Error.unsupportedPassword }
        let cost = self.cost
        return try await self.threadPool.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Whether the password matches the hash. A password bcrypt cannot hash whole never matches.
    public func verify(_ password: String, against hash: String) async throws -> Bool {
        let hashable = Self.isHashable(password)
        // Spend the same time whether or not the password is acceptable.
        let matches = try await self.threadPool.runIfActive { Bcrypt.verify(password, hash: hash) }
        return hashable && matches
    }

    /// Whether a stored hash was made with another cost (or is not a bcrypt hash we understand) and should be
    /// replaced by a new hash after the next successful login.
    public func needsRehash(_ hash: String) -> Bool {
        Self.cost(of: hash) != self.cost
    }

    /// A valid bcrypt hash of a random password, computed once, used to spend the same time when the account does
    /// not exist.
    public func dummyHash() async throws -> String {
        let task = self.dummy.task.withLock { task in
            if let task { return task }
            let cost = self.cost
            let pool = self.threadPool
            let created = Task {
                let password = (0..<16).map { _ in String(UInt8.random(in: .min ... .max), radix: 16) }.joined()
                return try await pool.runIfActive { Bcrypt.hash(password, cost: cost) }
            }
            task = created
            return created
        }
        return try await task.value
    }

    /// The cost recorded in a `$2a$`, `$2b$` or `$2y$` hash, or nil when the text is not one.
    static func cost(of hash: String) -> UInt8? {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]),
            bytes[3] == UInt8(ascii: "$"), bytes[6] == UInt8(ascii: "$")
        else { return nil }
        let digits = bytes[4...5]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return digits.reduce(0) { $0 * 10 + ($1 - UInt8(ascii: "0")) }
    }

    /// Whether bcrypt sees every byte of the password.
    private static func isHashable(_ password: String) -> Bool {
        password.utf8.count <= PasswordPolicy.maximumBytes && !password.utf8.contains(0)
    }

    /// The once-computed dummy hash, shared by copies of the hasher.
    private final class DummyHash: Sendable {
        let task = Mutex<Task<String, any Swift.Error>?>(nil)
    }
}
