import Foundation
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriMessaging
import SQLKit

extension Identity {
    /// Why an emailed token exists.
    enum EmailTokenPurpose: String, Sendable {
        case verifyEmail = "verify_email"
        case changeEmail = "change_email"
        case resetPassword = "reset_password"
    }

    /// The policy's verdict on a password as an API error, or nil.
    static func passwordError(_ password: String) -> APIError? {
        guard let problem = PasswordPolicy.problem(with: password) else { return nil }
        let message =
            switch problem {
            case .tooShort(let minimum): "use at least \(minimum) characters"
            case .tooLong(let maximum): "use at most \(maximum) bytes"
            case .common: "this password is too common; choose another"
            }
        return APIError(
            .weakPassword, detail: message,
            fieldErrors: [.init(field: "password", code: "weak_password", message: message)])
    }

    static func email(_ text: String) throws(APIError) -> EmailAddress {
        guard let email = EmailAddress(text) else {
            throw APIError(
                .invalidEmail, detail: "not an email address",
                fieldErrors: [.init(field: "email", code: "invalid_email", message: "not an email address")])
        }
        return email
    }

    // MARK: Register and verify

    /// Registers an email and password. The answer is the same whether or not the address is taken: a new
    /// address gets a verification link, a taken one a note to its owner.
    public func register(email text: String, password: String, name: String?) async throws {
        let email = try Self.email(text)
        if let error = Self.passwordError(password) { throw error }
        // Hashed before looking the address up, so both answers take the same time.
        let hash = try await self.passwords.hash(password)
        let now = self.clock.now()
        do {
            try await self.database.transaction { connection in
                if try await Self.user(column: "email", equals: email.normalized, on: connection) != nil {
                    try await self.outbox.enqueue(
                        EmailMessage(
                            to: email.normalized, subject: "Your \(self.configuration.productName) account",
                            text: """
                                Someone tried to create a \(self.configuration.productName) account with this address, \
                                which already has one. If it was you, sign in, or reset your password if you forgot it. \
                                If it was not you, you can ignore this email.
                                """),
                        on: connection)
                    return
                }
                var roles: Set<Role> = [.customer]
                if self.configuration.bootstrapAdmins.contains(email.normalized) { roles.insert(.admin) }
                let id = self.ids.make(UserIDKind.self)
                try await connection.raw(
                    """
                    INSERT INTO users (id, email, password_hash, name, roles, created_at, updated_at)
                    VALUES (\(bind: id.description), \(bind: email.normalized), \(bind: hash), \(bind: name),
                        \(bind: Roles.format(roles)), \(bind: now.stored), \(bind: now.stored))
                    """
                ).run()
                try await self.sendEmailToken(
                    .verifyEmail, userID: id, email: email.normalized, now: now, on: connection)
            }
        } catch  where DatabaseError.isRetryableConflict(error) {
            // A concurrent registration of the same address won; the answer stays the same.
            return
        }
        self.outbox.notifyCommitted()
    }

    /// Writes an emailed token (stored as a MAC) and its email into the outbox.
    func sendEmailToken(
        _ purpose: EmailTokenPurpose, userID: UserID, email: String, now: Timestamp, on connection: any SQLDatabase
    ) async throws {
        let token = Self.randomToken()
        let lifetime =
            purpose == .resetPassword
            ? self.configuration.passwordResetSeconds : self.configuration.emailVerificationSeconds
        try await connection.raw(
            """
            INSERT INTO email_tokens (id, user_id, purpose, token_hash, email, created_at, expires_at)
            VALUES (\(bind: self.ids.make(EmailTokenIDKind.self).description), \(bind: userID.description),
                \(bind: purpose.rawValue), \(bind: self.tokenHash(token)), \(bind: email), \(bind: now.stored),
                \(bind: now.adding(seconds: lifetime).stored))
            """
        ).run()
        let product = self.configuration.productName
        let (subject, action, page) =
            switch purpose {
            case .verifyEmail: ("Verify your email for \(product)", "verify your email address", "verify-email")
            case .changeEmail:
                ("Confirm your new email for \(product)", "confirm your new email address", "verify-email")
            case .resetPassword: ("Reset your \(product) password", "choose a new password", "reset-password")
            }
        let link = self.configuration.publicURL.map { "\($0)/\(page)?token=\(token)" }
        let hours = lifetime / 3600
        let text = """
            To \(action), \(link.map { "open this link:\n\n\($0)" } ?? "use this token:\n\n\(token)")

            It works once and expires in \(hours) hour\(hours == 1 ? "" : "s"). If you did not ask for this, ignore \
            this email.
            """
        try await self.outbox.enqueue(EmailMessage(to: email, subject: subject, text: text), on: connection)
    }

    /// Uses an emailed verification token: the address is verified (or, for a change, becomes the account's).
    public func verifyEmail(token: String) async throws -> User {
        let now = self.clock.now()
        let result: Result<User, APIError> = try await self.database.transaction { connection in
            let row = try await self.consumeEmailToken(
                token, purposes: [.verifyEmail, .changeEmail], now: now, on: connection)
            guard case .success(let (userID, purpose, email)) = row else {
                if case .failure(let error) = row { return .failure(error) }
                return .failure(APIError(.tokenInvalid))
            }
            if purpose == .changeEmail {
                if let other = try await Self.user(column: "email", equals: email, on: connection), other.id != userID {
                    return .failure(APIError(.emailTaken, detail: "another account uses this address now"))
                }
                try await connection.raw(
                    """
                    UPDATE users SET email = \(bind: email), email_verified_at = \(bind: now.stored),
                        pending_email = NULL, updated_at = \(bind: now.stored)
                    WHERE id = \(bind: userID.description)
                    """
                ).run()
            } else {
                try await connection.raw(
                    """
                    UPDATE users SET email_verified_at = \(bind: now.stored), updated_at = \(bind: now.stored)
                    WHERE id = \(bind: userID.description) AND email = \(bind: email)
                    """
                ).run()
            }
            guard let user = try await Self.user(userID, on: connection) else { throw APIError(.tokenInvalid) }
            return .success(user)
        }
        self.sessionStates.removeAll()
        return try result.get()
    }

    /// Marks an emailed token used and returns whose it is; single use, expiring.
    func consumeEmailToken(
        _ token: String, purposes: Set<EmailTokenPurpose>, now: Timestamp, on connection: any SQLDatabase
    ) async throws -> Result<(UserID, EmailTokenPurpose, String), APIError> {
        let lock = connection.dialect.name == "postgresql" ? "FOR UPDATE" : ""
        guard token.utf8.count < 100,
            let row = try await connection.raw(
                "SELECT * FROM email_tokens WHERE token_hash = \(bind: self.tokenHash(token)) \(unsafeRaw: lock)"
            ).first(),
            let purpose = EmailTokenPurpose(rawValue: try row.decode(column: "purpose", as: String.self)),
            purposes.contains(purpose),
            try row.decode(column: "consumed_at", as: Int64?.self) == nil,
            let userID = UserID(try row.decode(column: "user_id", as: String.self))
        else { return .failure(APIError(.tokenInvalid, detail: "the link is not valid or was already used")) }
        if try row.decode(column: "expires_at", as: Int64.self) < now.stored {
            return .failure(APIError(.tokenExpired, detail: "the link expired; ask for a new one"))
        }
        try await connection.raw(
            """
            UPDATE email_tokens SET consumed_at = \(bind: now.stored)
            WHERE id = \(bind: try row.decode(column: "id", as: String.self))
            """
        ).run()
        return .success((userID, purpose, try row.decode(column: "email", as: String.self)))
    }

    // MARK: Log in

    /// Signs in with email and password (and the second factor when TOTP is on).
    ///
    /// Every failure that could tell whether the account exists — unknown address, wrong password, paused after
    /// repeated failures — answers the same `auth.invalid_credentials`, after the same bcrypt work.
    public func logIn(
        email text: String, password: String, secondFactor: SecondFactor?, client: ClientInfo
    ) async throws -> SignIn {
        let email = try Self.email(text)
        let now = self.clock.now()
        let user = try await self.database.withConnection { connection in
            try await Self.user(column: "email", equals: email.normalized, on: connection)
        }
        let credentialsError = APIError(
            .invalidCredentials,
            detail: "the email or password is wrong, or sign-in is paused after too many failed attempts")
        guard let user, let hash = user.passwordHash else {
            _ = try await self.passwords.verify(password, against: self.passwords.dummyHash())
            throw credentialsError
        }
        let matches = try await self.passwords.verify(password, against: hash)
        if let lockedUntil = user.lockedUntil, lockedUntil > now { throw credentialsError }
        guard matches else {
            try await self.recordFailedLogin(user.id, now: now)
            throw credentialsError
        }
        if user.disabledAt != nil { throw APIError(.accountDisabled) }
        if user.emailVerifiedAt == nil {
            throw APIError(.emailNotVerified, detail: "open the link we emailed you first")
        }
        let result: Result<(SessionID, String), APIError> = try await self.database.transaction { connection in
            if let failure = try await self.checkSecondFactor(secondFactor, of: user, now: now, on: connection) {
                return .failure(failure)
            }
            try await connection.raw(
                """
                UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = \(bind: user.id.description)
                """
            ).run()
            return .success(
                try await self.startSession(for: user, method: "password", client: client, now: now, on: connection))
        }
        let session: SessionID
        let refreshToken: String
        switch result {
        case .success(let started):
            (session, refreshToken) = started
        case .failure(let error):
            if error.code == .totpInvalid { try await self.recordFailedLogin(user.id, now: now) }
            throw error
        }
        if self.passwords.needsRehash(hash) {
            let rehashed = try await self.passwords.hash(password)
            try await self.database.withConnection { connection in
                try await connection.raw(
                    "UPDATE users SET password_hash = \(bind: rehashed) WHERE id = \(bind: user.id.description)"
                ).run()
            }
        }
        self.logger.info("signed in with password", metadata: ["user_id": "\(user.id)", "session_id": "\(session)"])
        return try await self.signIn(user: user, session: session, refreshToken: refreshToken)
    }

    /// Counts a failure; the `lockoutThreshold`-th in a row pauses password sign-in for `lockoutSeconds`.
    private func recordFailedLogin(_ id: UserID, now: Timestamp) async throws {
        let threshold = self.configuration.lockoutThreshold
        let until = now.adding(seconds: self.configuration.lockoutSeconds).stored
        let row = try await self.database.withConnection { connection in
            try await connection.raw(
                """
                UPDATE users SET
                    locked_until = CASE WHEN failed_logins + 1 >= \(bind: threshold) THEN \(bind: until)
                        ELSE locked_until END,
                    failed_logins = CASE WHEN failed_logins + 1 >= \(bind: threshold) THEN 0
                        ELSE failed_logins + 1 END
                WHERE id = \(bind: id.description)
                RETURNING failed_logins, locked_until
                """
            ).first()
        }
        if let row, try row.decode(column: "failed_logins", as: Int.self) == 0 {
            self.logger.warning("password sign-in paused after repeated failures", metadata: ["user_id": "\(id)"])
        } else {
            self.logger.info("password sign-in failed", metadata: ["user_id": "\(id)"])
        }
    }

    // MARK: Reset

    /// Emails a reset link if the address belongs to an account; the answer never says whether it does.
    public func forgotPassword(email text: String) async throws {
        let email = try Self.email(text)
        let now = self.clock.now()
        try await self.database.transaction { connection in
            guard let user = try await Self.user(column: "email", equals: email.normalized, on: connection),
                user.disabledAt == nil
            else { return }
            try await self.sendEmailToken(
                .resetPassword, userID: user.id, email: email.normalized, now: now, on: connection)
        }
        self.outbox.notifyCommitted()
    }

    /// Sets a new password with an emailed reset token. Every session ends; the pause after failures lifts.
    /// Sign-in afterwards still needs the second factor when TOTP is on.
    public func resetPassword(token: String, password: String) async throws {
        if let error = Self.passwordError(password) { throw error }
        let hash = try await self.passwords.hash(password)
        let now = self.clock.now()
        let failure: APIError? = try await self.database.transaction { connection in
            let consumed = try await self.consumeEmailToken(
                token, purposes: [.resetPassword], now: now, on: connection)
            guard case .success(let (userID, _, email)) = consumed else {
                if case .failure(let error) = consumed { return error }
                return APIError(.tokenInvalid)
            }
            try await connection.raw(
                """
                UPDATE users SET password_hash = \(bind: hash), failed_logins = 0, locked_until = NULL,
                    sessions_not_before = \(bind: now.stored),
                    email_verified_at = COALESCE(email_verified_at, \(bind: now.stored)),
                    updated_at = \(bind: now.stored)
                WHERE id = \(bind: userID.description)
                """
            ).run()
            try await Self.revokeSessions(of: userID, reason: "password_reset", now: now, on: connection)
            try await self.outbox.enqueue(
                EmailMessage(
                    to: email, subject: "Your \(self.configuration.productName) password was changed",
                    text: """
                        Your password was just changed and every device was signed out. If you did not do this, \
                        reset your password now and contact support.
                        """),
                on: connection)
            return nil
        }
        self.sessionStates.removeAll()
        if let failure { throw failure }
        self.outbox.notifyCommitted()
    }
}
