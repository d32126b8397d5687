import KauriCore
import KauriDatabase
import KauriHTTP
import SQLKit

extension Identity {
    /// The longest display name.
    static let nameLengthMax = 100

    /// Changes the caller's profile. A new email address is verified by a link before it replaces the old one; a
    /// new phone number by a code (`confirmPhoneChange`).
    /// - Returns: The user, and whether a code went to `phone`.
    public func updateProfile(
        _ userID: UserID, name: String??, email: String?, phone: String?, client: ClientInfo
    ) async throws -> (User, phoneCodeSent: Bool) {
        var fieldErrors: [APIError.FieldError] = []
        if case .some(.some(let name)) = name,
            name.trimmingCharacters(in: .whitespaces).isEmpty || name.count > Self.nameLengthMax
        {
            fieldErrors.append(.init(field: "name", code: "invalid", message: "1 to 100 characters"))
        }
        var newEmail: EmailAddress?
        if let email {
            newEmail = EmailAddress(email)
            if newEmail == nil {
                throw APIError(
                    .invalidEmail, detail: "not an email address",
                    fieldErrors: [.init(field: "email", code: "invalid_email", message: "not an email address")])
            }
        }
        var newPhone: PhoneNumber?
        if let phone {
            do {
                newPhone = try PhoneNumber(parsing: phone)
            } catch {
                throw APIError(
                    .invalidPhone, detail: error.description,
                    fieldErrors: [.init(field: "phone", code: "invalid_phone", message: error.description)])
            }
        }
        guard fieldErrors.isEmpty else { throw APIError.validation(fieldErrors) }
        let requestedEmail = newEmail
        let now = self.clock.now()
        let user = try await self.database.transaction { connection in
            guard var user = try await Self.user(userID, on: connection, forUpdate: true) else {
                throw APIError(.userNotFound)
            }
            if let name {
                user.name = name?.trimmingCharacters(in: .whitespaces)
            }
            if let newEmail = requestedEmail, newEmail.normalized != user.email {
                user.pendingEmail = newEmail.normalized
                try await self.sendEmailToken(
                    .changeEmail, userID: userID, email: newEmail.normalized, now: now, on: connection)
            }
            try await connection.raw(
                """
                UPDATE users SET name = \(bind: user.name), pending_email = \(bind: user.pendingEmail),
                    updated_at = \(bind: now.stored)
                WHERE id = \(bind: userID.description)
                """
            ).run()
            return user
        }
        self.sessionStates.removeAll()
        self.outbox.notifyCommitted()
        var codeSent = false
        if let newPhone, newPhone.e164 != user.phone {
            _ = try await self.requestCode(phone: newPhone, purpose: .phoneChange, userID: userID, client: client)
            codeSent = true
        }
        return (user, codeSent)
    }

    /// Confirms a new phone number with the code sent to it.
    public func confirmPhoneChange(_ userID: UserID, phone: PhoneNumber, code: String) async throws -> User {
        let now = self.clock.now()
        let result: Result<User, APIError> = try await self.database.transaction { connection in
            let check = try await self.checkCode(
                phone: phone, purpose: .phoneChange, userID: userID, code: code, now: now, on: connection
            ) { _, _ in nil }
            if case .failed(let error) = check { return .failure(error) }
            if let other = try await Self.user(column: "phone", equals: phone.e164, on: connection),
                other.id != userID
            {
                return .failure(APIError(.phoneTaken, detail: "another account uses this number"))
            }
            try await connection.raw(
                """
                UPDATE users SET phone = \(bind: phone.e164), updated_at = \(bind: now.stored)
                WHERE id = \(bind: userID.description)
                """
            ).run()
            guard let user = try await Self.user(userID, on: connection) else { throw APIError(.userNotFound) }
            return .success(user)
        }
        self.sessionStates.removeAll()
        return try result.get()
    }
}
