import NIOPosix
import Testing

@testable import KauriIdentity

@Suite("Passwords")
struct PasswordTests {
    @Test("length limits: 10 characters at least, 72 bytes at most")
    func lengthLimits() {
        #expect(PasswordPolicy.problem(with: "kx7-Qm2#p") == .tooShort(minimum: 10))
        #expect(PasswordPolicy.problem(with: "kx7-Qm2#pZ") == nil)
        // Characters are code points: 10 two-byte letters are enough, 9 are not.
        #expect(PasswordPolicy.problem(with: String(repeating: "é", count: 10)) == nil)
        #expect(PasswordPolicy.problem(with: String(repeating: "é", count: 9)) == .tooShort(minimum: 10))
        #expect(PasswordPolicy.problem(with: String(repeating: "k", count: 72)) == nil)
        #expect(PasswordPolicy.problem(with: String(repeating: "k", count: 73)) == .tooLong(maximumBytes: 72))
        // 37 two-byte characters are 74 bytes.
        #expect(PasswordPolicy.problem(with: String(repeating: "é", count: 37)) == .tooLong(maximumBytes: 72))
    }

    @Test("common passwords are refused whatever their case", arguments: [
        "password123", "PASSWORD123", "Password123", "1234567890", "qwertyuiop", "iloveyou12",
    ])
    func commonPasswords(password: String) {
        #expect(PasswordPolicy.problem(with: password) == .common)
    }

    @Test("the common-password list is loaded, lower-cased, with thousands of entries")
    func commonPasswordList() {
        let list = PasswordPolicy.commonPasswords
        #expect(list.count >= 3_000)
        #expect(list.contains("password123"))
        #expect(list.allSatisfy { $0 == $0.lowercased() && !$0.isEmpty })
        #expect(!list.contains { $0.hasPrefix("# ") })
    }

    @Test("bcrypt round trip at cost 4; wrong passwords and broken hashes do not verify")
    func roundTrip() async throws {
        let hasher = PasswordHasher(cost: 4, threadPool: .singleton)
        let hash = try await hasher.hash("correct horse battery")
        #expect(hash.hasPrefix("$2b$04$") && hash.count == 60)
        #expect(try await hasher.verify("correct horse battery", against: hash))
        #expect(try await !hasher.verify("correct horse batterY", against: hash))
        #expect(try await !hasher.verify("correct horse battery", against: "not a hash"))
        #expect(try await hasher.hash("correct horse battery") != hash)
    }

    @Test("a 64-character password is hashed whole, unmodified")
    func longPasswordUnmodified() async throws {
        let password = "Zq8!vR2#mT6$wY4%nB1&kH9*eL3(xS5)uJ7_pC0+gF2-dA8=iO6~rW4^tE1@yU3?"
        #expect(password.count == 64)
        #expect(PasswordPolicy.problem(with: password) == nil)
        let hasher = PasswordHasher(cost: 4, threadPool: .singleton)
        let hash = try await hasher.hash(password)
        #expect(try await hasher.verify(password, against: hash))
        #expect(try await !hasher.verify(String(password.dropLast()), against: hash))
    }

    @Test("passwords bcrypt would truncate are refused, not silently shortened")
    func truncation() async throws {
        let hasher = PasswordHasher(cost: 4, threadPool: .singleton)
        let seventyTwo = String(repeating: "a", count: 71) + "b"
        let hash = try await hasher.hash(seventyTwo)
        #expect(try await hasher.verify(seventyTwo, against: hash))
        #expect(try await !hasher.verify(seventyTwo + "extra", against: hash))
        await #expect(throws: PasswordHasher.Error.unsupportedPassword) { try await hasher.hash(seventyTwo + "c") }
        await #expect(throws: PasswordHasher.Error.unsupportedPassword) { try await hasher.hash("abc\0defghijkl") }
    }

    @Test("production cost 12 writes $2b$12$")
    func productionCost() async throws {
        let hasher = PasswordHasher(threadPool: .singleton)
        #expect(hasher.cost == 12)
        let hash = try await hasher.hash("a long enough passphrase")
        #expect(hash.hasPrefix("$2b$12$"))
        #expect(try await hasher.verify("a long enough passphrase", against: hash))
        #expect(!hasher.needsRehash(hash))
    }

    @Test("needsRehash spots another cost or an unknown format")
    func needsRehash() async throws {
        let cheap = PasswordHasher(cost: 4, threadPool: .singleton)
        let hash = try await cheap.hash("rehash me please")
        #expect(!cheap.needsRehash(hash))
        #expect(PasswordHasher(cost: 5, threadPool: .singleton).needsRehash(hash))
        #expect(cheap.needsRehash("plain-text"))
        #expect(cheap.needsRehash(""))
        #expect(PasswordHasher.cost(of: hash) == 4)
        #expect(PasswordHasher.cost(of: "$2y$10$" + String(repeating: "a", count: 53)) == 10)
    }

    @Test("hashing runs on the thread pool: four concurrent hashes complete")
    func concurrentHashes() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let hasher = PasswordHasher(cost: 6, threadPool: pool)
        let hashes = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<4 {
                group.addTask { try await hasher.hash("concurrent password \(index)") }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(hashes).count == 4)
        try await pool.shutdownGracefully()
    }

    @Test("the dummy hash is a valid bcrypt hash at the hasher's cost, computed once")
    func dummyHash() async throws {
        let hasher = PasswordHasher(cost: 4, threadPool: .singleton)
        async let first = hasher.dummyHash()
        async let second = hasher.dummyHash()
        let (a, b) = try await (first, second)
        #expect(a == b)
        #expect(PasswordHasher.cost(of: a) == 4)
        #expect(try await !hasher.verify("anything at all", against: a))
    }
}
