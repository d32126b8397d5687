import Crypto
import Foundation
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriMessaging
import SQLKit

extension Identity {
    /// What a one-time code is for.
    enum CodePurpose: String, Sendable {
        /// Signing in (the user is created on first sign-in).
        case signIn = "sign_in"
        /// Proving a new phone number of a signed-in user.
        case phoneChange = "phone_change"
    }

    // MARK: Sending codes

    /// Sends a sign-in code to `phone`. The answer is the same whether or not the phone belongs to a user.
    /// - Returns: Seconds until the code expires.
    public func requestSignInCode(phone: PhoneNumber, client: ClientInfo) async throws -> Int {
        try await self.requestCode(phone: phone, purpose: .signIn, userID: nil, client: client)
    }

    func requestCode(
        phone: PhoneNumber, purpose: CodePurpose, userID: UserID?, client: ClientInfo
    ) async throws
        -> Int
    {
        let now = self.clock.now()
        let configuration = self.configuration
        let challenge = self.ids.make(ChallengeIDKind.self)
        let code = Self.randomCode()
        let mac = self.codeMAC(challenge: challenge.description, phone: phone.e164, code: code)
        try await self.database.transaction { connection in
            if connection.dialect.name == "postgresql" {
                // Serialise requests for one phone (and one client address) so the caps are exact.
                try await connection.raw("SELECT pg_advisory_xact_lock(1263879251, hashtext(\(bind: phone.e164)))")
                    .run()
                if let address = client.address {
                    try await connection.raw("SELECT pg_advisory_xact_lock(1263879252, hashtext(\(bind: address)))")
                        .run()
                }
            }
            try await Self.enforceCap(
                on: connection, column: "phone", value: phone.e164, count: configuration.codesPerPhone,
                windowSeconds: configuration.codesPerPhoneWindowSeconds, now: now,
                detail: "too many codes for this phone number")
            try await Self.enforceCap(
                on: connection, column: "phone", value: phone.e164, count: configuration.codesPerPhonePerDay,
                windowSeconds: 24 * 3600, now: now, detail: "too many codes for this phone number today")
            if let address = client.address {
                try await Self.enforceCap(
                    on: connection, column: "client_address", value: address,
                    count: configuration.codesPerClientPerHour, windowSeconds: 3600, now: now,
                    detail: "too many codes requested from this address")
            }
            let expires = now.adding(seconds: configuration.codeSeconds)
            try await connection.raw(
                """
                INSERT INTO otp_challenges (id, phone, purpose, user_id, code_mac, client_address, created_at,
                    expires_at)
                VALUES (\(bind: challenge.description), \(bind: phone.e164), \(bind: purpose.rawValue),
                    \(bind: userID?.description), \(bind: mac), \(bind: client.address), \(bind: now.stored),
                    \(bind: expires.stored))
                """
            ).run()
            let minutes = configuration.codeSeconds / 60
            try await self.outbox.enqueue(
                SmsMessage(
                    to: phone.e164,
                    body:
                        "\(code) is your \(configuration.productName) code. It expires in \(minutes) minutes. "
                        + "Never share it with anyone."),
                on: connection)
        }
        self.outbox.notifyCommitted()
        self.logger.info(
            "sign-in code sent",
            metadata: ["phone": "\(phone.masked)", "purpose": "\(purpose.rawValue)", "challenge_id": "\(challenge)"])
        return configuration.codeSeconds
    }

    /// Refuses with 429 and `Retry-After` when `count` challenges already match within the window.
    private static func enforceCap(
        on connection: any SQLDatabase, column: String, value: String, count: Int, windowSeconds: Int,
        now: Timestamp, detail: String
    ) async throws {
        let since = now.stored - Int64(windowSeconds) * 1_000
        let row = try await connection.raw(
            """
            SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM otp_challenges
            WHERE \(ident: column) = \(bind: value) AND created_at > \(bind: since)
            """
        ).first()
        let sent = try row?.decode(column: "n", as: Int.self) ?? 0
        guard sent >= count else { return }
        // Counted rows are newest-last; the window frees a slot when the oldest one leaves it.
        let oldest = try row?.decode(column: "oldest", as: Int64?.self) ?? now.stored
        let retryAfter = max(1, (oldest + Int64(windowSeconds) * 1_000 - now.stored + 999) / 1_000)
        throw APIError(.tooManyCodes, detail: detail, headers: [.retryAfter: "\(retryAfter)"])
    }

    /// Six digits from the system CSPRNG.
    static func randomCode() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = UInt32.random(in: 0..<1_000_000, using: &generator)
        let digits = String(value)
        return String(repeating: "0", count: 6 - digits.count) + digits
    }

    /// The stored MAC of a code: HMAC-SHA256 under the server secret, bound to the challenge and the phone.
    func codeMAC(challenge: String, phone: String, code: String) -> String {
        let message = Data("\(challenge)|\(phone)|\(code)".utf8)
        return Self.hex(HMAC<SHA256>.authenticationCode(for: message, using: self.codeKey))
    }

    // MARK: Checking codes

    /// What checking a code decided; failures are thrown after the transaction commits (wrong attempts count).
    enum CodeCheck: Sendable {
        case accepted(User?)
        case failed(APIError)
    }

    /// Signs in with a code sent by `requestSignInCode`, creating the user on first sign-in. Accounts with TOTP
    /// also need `secondFactor`.
    public func signInWithCode(
        phone: PhoneNumber, code: String, secondFactor: SecondFactor?, client: ClientInfo
    ) async throws -> SignIn {
        let now = self.clock.now()
        let (user, session, refreshToken) = try await self.database.transaction {
            connection -> Result<(User, SessionID, String), APIError> in
            let check = try await self.checkCode(
                phone: phone, purpose: .signIn, userID: nil, code: code, now: now, on: connection
            ) { user, connection in
                guard let user else { return nil }
                if user.disabledAt != nil { return APIError(.accountDisabled) }
                return try await self.checkSecondFactor(secondFactor, of: user, now: now, on: connection)
            }
            switch check {
            case .failed(let error):
                return .failure(error)
            case .accepted(let existing):
                var user = existing
                if user == nil {
                    user = try await self.createUser(phone: phone.e164, now: now, on: connection)
                }
                guard let user else { throw IdentityStoreError.corruptRow("users.phone") }
                let (session, refreshToken) = try await self.startSession(
                    for: user, method: "otp", client: client, now: now, on: connection)
                return .success((user, session, refreshToken))
            }
        }.get()
        self.logger.info("signed in with code", metadata: ["user_id": "\(user.id)", "session_id": "\(session)"])
        return try await self.signIn(user: user, session: session, refreshToken: refreshToken)
    }

    /// Checks `code` against the newest challenge for the phone and purpose, inside the caller's transaction.
    ///
    /// A wrong code (or a wrong second factor, judged by `extraCheck`) counts an attempt; the fifth burns the
    /// challenge. A right code consumes it — a conditional update, so of concurrent correct submissions exactly
    /// one is accepted.
    func checkCode(
        phone: PhoneNumber, purpose: CodePurpose, userID: UserID?, code: String, now: Timestamp,
        on connection: any SQLDatabase,
        extraCheck: (User?, any SQLDatabase) async throws -> APIError?
    ) async throws -> CodeCheck {
        let lock = connection.dialect.name == "postgresql" ? "FOR UPDATE" : ""
        // A phone-change challenge also belongs to the user who asked for it.
        let owner = userID?.description ?? ""
        guard
            let row = try await connection.raw(
                """
                SELECT * FROM otp_challenges
                WHERE phone = \(bind: phone.e164) AND purpose = \(bind: purpose.rawValue)
                    AND (\(bind: owner) = '' OR user_id = \(bind: owner))
                ORDER BY created_at DESC, id DESC LIMIT 1 \(unsafeRaw: lock)
                """
            ).first()
        else { return .failed(APIError(.codeInvalid, detail: "no code was sent to this number; request one")) }
        let challenge = try row.decode(column: "id", as: String.self)
        let attempts = try row.decode(column: "attempts", as: Int.self)
        let maximum = self.configuration.codeAttemptsMax
        if try row.decode(column: "consumed_at", as: Int64?.self) != nil {
            return .failed(APIError(.codeInvalid, detail: "this code was already used; request a new one"))
        }
        if attempts >= maximum {
            return .failed(APIError(.tooManyAttempts, detail: "too many wrong codes; request a new one"))
        }
        if try row.decode(column: "expires_at", as: Int64.self) < now.stored {
            return .failed(APIError(.codeExpired, detail: "the code expired; request a new one"))
        }
        let stored = try row.decode(column: "code_mac", as: String.self)
        let given = self.codeMAC(challenge: challenge, phone: phone.e164, code: code)
        var failure: APIError?
        if !ConstantTime.isEqual(Array(stored.utf8), Array(given.utf8)) {
            failure = APIError(.codeInvalid, detail: "the code is wrong")
        } else {
            let user = try await Self.user(column: "phone", equals: phone.e164, on: connection)
            failure = try await extraCheck(user, connection)
            if let failure, failure.code == .totpRequired || failure.code == .accountDisabled {
                // The code stays usable for the retry with the second factor; nothing was guessed.
                return .failed(failure)
            }
            if failure == nil {
                let consumed = try await connection.raw(
                    """
                    UPDATE otp_challenges SET consumed_at = \(bind: now.stored)
                    WHERE id = \(bind: challenge) AND consumed_at IS NULL AND attempts < \(bind: maximum)
                    RETURNING id
                    """
                ).first()
                guard consumed != nil else {
                    return .failed(APIError(.codeInvalid, detail: "this code was already used; request a new one"))
                }
                return .accepted(user)
            }
        }
        try await connection.raw(
            """
            UPDATE otp_challenges SET attempts = attempts + 1
            WHERE id = \(bind: challenge) AND attempts < \(bind: maximum)
            """
        ).run()
        if attempts + 1 >= maximum, failure?.code == .codeInvalid {
            failure = APIError(.tooManyAttempts, detail: "too many wrong codes; request a new one")
        }
        return .failed(failure ?? APIError(.codeInvalid))
    }

    /// Inserts a user signing in by phone for the first time.
    func createUser(phone: String, now: Timestamp, on connection: any SQLDatabase) async throws -> User? {
        var roles: Set<Role> = [.customer]
        if self.configuration.bootstrapAdmins.contains(phone) { roles.insert(.admin) }
        let id = self.ids.make(UserIDKind.self)
        try await connection.raw(
            """
            INSERT INTO users (id, phone, roles, created_at, updated_at)
            VALUES (\(bind: id.description), \(bind: phone), \(bind: Roles.format(roles)), \(bind: now.stored),
                \(bind: now.stored))
            """
        ).run()
        return try await Self.user(id, on: connection)
    }
}
