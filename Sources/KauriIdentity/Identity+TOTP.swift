import Foundation
import KauriCore
import KauriDatabase
import KauriHTTP
import SQLKit

/// The second factor a sign-in offers: a TOTP code or one of the recovery codes.
public enum SecondFactor: Sendable, Hashable {
    /// Six digits from the authenticator app.
    case totp(String)
    /// A single-use recovery code.
    case recoveryCode(String)
}

/// A new TOTP enrolment: what the authenticator app needs.
public struct TOTPEnrollment: Sendable, Hashable {
    /// The key in base32, for typing into the app.
    public var secret: String
    /// The `otpauth://totp/…` URL (render it as a QR code).
    public var otpauthURL: String
}

extension Identity {
    /// Checks the second factor of a user with TOTP on (nil for users without), inside the caller's transaction.
    /// A code or recovery code is used up by a success.
    func checkSecondFactor(
        _ factor: SecondFactor?, of user: User, now: Timestamp, on connection: any SQLDatabase
    ) async throws -> APIError? {
        guard user.totpEnabledAt != nil, let sealed = user.totpSecret else { return nil }
        guard let factor else {
            return APIError(.totpRequired, detail: "send totp_code (or recovery_code) with this request")
        }
        switch factor {
        case .totp(let code):
            let secret = try self.totpBox.open(sealed)
            guard
                let step = TOTPCodes.matchingStep(
                    code: code, secret: secret, at: now, lastUsedStep: user.totpLastStep)
            else { return APIError(.totpInvalid) }
            // Conditional: of two concurrent uses of one code, one wins.
            let updated = try await connection.raw(
                """
                UPDATE users SET totp_last_step = \(bind: step)
                WHERE id = \(bind: user.id.description) AND (totp_last_step IS NULL OR totp_last_step < \(bind: step))
                RETURNING id
                """
            ).first()
            return updated == nil ? APIError(.totpInvalid) : nil
        case .recoveryCode(let code):
            let hash = RecoveryCodes.hash(code, key: self.recoveryKey)
            let updated = try await connection.raw(
                """
                UPDATE recovery_codes SET used_at = \(bind: now.stored)
                WHERE user_id = \(bind: user.id.description) AND code_hash = \(bind: hash) AND used_at IS NULL
                RETURNING code_hash
                """
            ).first()
            if updated != nil {
                self.logger.notice("recovery code used", metadata: ["user_id": "\(user.id)"])
            }
            return updated == nil ? APIError(.totpInvalid) : nil
        }
    }

    /// Starts TOTP enrolment: a new secret, stored sealed, not yet required at sign-in.
    public func enrollTOTP(_ userID: UserID) async throws -> TOTPEnrollment {
        let now = self.clock.now()
        let secret = TOTPCodes.generateSecret()
        let sealed = try self.totpBox.seal(secret)
        let user = try await self.database.transaction { connection in
            guard let user = try await Self.user(userID, on: connection, forUpdate: true) else {
                throw APIError(.userNotFound)
            }
            guard user.totpEnabledAt == nil else { throw APIError(.totpAlreadyEnabled) }
            try await connection.raw(
                """
                UPDATE users SET totp_secret = \(bind: sealed), totp_last_step = NULL, updated_at = \(bind: now.stored)
                WHERE id = \(bind: userID.description)
                """
            ).run()
            return user
        }
        let account = user.email ?? user.phone ?? user.id.description
        let url = TOTPCodes.authenticatorURL(secret: secret, account: account, issuer: self.configuration.productName)
        let base32 =
            URLComponents(string: url)?.queryItems?.first { $0.name == "secret" }?.value ?? secret
        return TOTPEnrollment(secret: base32, otpauthURL: url)
    }

    /// Confirms enrolment with a code from the app: TOTP becomes required, and ten recovery codes are returned
    /// (once; only their MACs are stored).
    public func confirmTOTP(_ userID: UserID, code: String) async throws -> [String] {
        let now = self.clock.now()
        let codes = RecoveryCodes.generate(count: 10)
        let result: Result<[String], APIError> = try await self.database.transaction { connection in
            guard let user = try await Self.user(userID, on: connection, forUpdate: true) else {
                throw APIError(.userNotFound)
            }
            guard user.totpEnabledAt == nil else { return .failure(APIError(.totpAlreadyEnabled)) }
            guard let sealed = user.totpSecret else { return .failure(APIError(.totpNotEnrolled)) }
            let secret = try self.totpBox.open(sealed)
            guard let step = TOTPCodes.matchingStep(code: code, secret: secret, at: now, lastUsedStep: nil) else {
                return .failure(APIError(.totpInvalid))
            }
            try await connection.raw(
                """
                UPDATE users SET totp_enabled_at = \(bind: now.stored), totp_last_step = \(bind: step),
                    updated_at = \(bind: now.stored)
                WHERE id = \(bind: userID.description)
                """
            ).run()
            try await connection.raw("DELETE FROM recovery_codes WHERE user_id = \(bind: userID.description)").run()
            for code in codes {
                try await connection.raw(
                    """
                    INSERT INTO recovery_codes (user_id, code_hash)
                    VALUES (\(bind: userID.description), \(bind: RecoveryCodes.hash(code, key: self.recoveryKey)))
                    """
                ).run()
            }
            return .success(codes)
        }
        self.sessionStates.removeAll()
        let confirmed = try result.get()
        self.logger.notice("totp enabled", metadata: ["user_id": "\(userID)"])
        return confirmed
    }

    /// Turns TOTP off; needs a current code or a recovery code.
    public func disableTOTP(_ userID: UserID, factor: SecondFactor) async throws {
        let now = self.clock.now()
        let failure: APIError? = try await self.database.transaction { connection in
            guard let user = try await Self.user(userID, on: connection, forUpdate: true) else {
                throw APIError(.userNotFound)
            }
            guard user.totpEnabledAt != nil else { return APIError(.totpNotEnrolled) }
            if let failure = try await self.checkSecondFactor(factor, of: user, now: now, on: connection) {
                return failure
            }
            try await connection.raw(
                """
                UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL,
                    updated_at = \(bind: now.stored)
                WHERE id = \(bind: userID.description)
                """
            ).run()
            try await connection.raw("DELETE FROM recovery_codes WHERE user_id = \(bind: userID.description)").run()
            return nil
        }
        self.sessionStates.removeAll()
        if let failure { throw failure }
        self.logger.notice("totp disabled", metadata: ["user_id": "\(userID)"])
    }
}
