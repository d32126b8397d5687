import Hummingbird
import KauriCore
import KauriHTTP

/// The identity routes: sign-in by phone code or by email and password, token refresh and logout, email
/// verification and password reset, TOTP, the caller's profile and sessions, and admin user management.
public struct IdentityRoutes: Sendable {
    let identity: Identity
    let clock: any WallClock

    /// Routes over `identity`.
    public init(identity: Identity, clock: any WallClock) {
        self.identity = identity
        self.clock = clock
    }

    static func client(_ request: Request, _ context: AppRequestContext) -> ClientInfo {
        ClientInfo(address: context.clientAddress, userAgent: request.headers[.userAgent])
    }

    static func phone(_ text: String) throws -> PhoneNumber {
        do {
            return try PhoneNumber(parsing: text)
        } catch {
            throw APIError(
                .invalidPhone, detail: error.description,
                fieldErrors: [.init(field: "phone", code: "invalid_phone", message: error.description)])
        }
    }

    /// Adds the routes and their OpenAPI descriptions.
    public func addRoutes(to api: DocumentedRouter) {
        api.registry.addSchema("User", UserResponse.schema)
        api.registry.addSchema("Tokens", TokenResponse.schema)
        self.addSignInRoutes(to: api)
        self.addPasswordRoutes(to: api)
        self.addTOTPRoutes(to: api)
        self.addProfileRoutes(to: api)
        self.addAdminRoutes(to: api)
    }

    private func addSignInRoutes(to api: DocumentedRouter) {
        let tokens = RouteRegistry.ref("Tokens")
        api.on(
            .post, "/v1/auth/otp",
            OperationDoc(
                "requestSignInCode",
                summary: "Text a 6-digit sign-in code to a phone; the same answer whether or not it has an account.",
                tag: "auth", requestSchema: IdentitySchemas.phone,
                responses: [
                    .json(
                        202, "A code is on its way.",
                        schema: IdentitySchemas.object(
                            ["status", "expires_in_seconds"],
                            ["status": ["type": "string"], "expires_in_seconds": ["type": "integer"]]))
                ],
                errorStatuses: [400, 422, 429])
        ) { request, context in
            let body = try await request.decode(as: PhoneRequest.self, context: context)
            let phone = try Self.phone(body.phone)
            let seconds = try await self.identity.requestSignInCode(
                phone: phone, client: Self.client(request, context))
            return EditedResponse(
                status: .accepted, response: StatusResponse(status: "code_sent", expiresInSeconds: seconds))
        }

        api.on(
            .post, "/v1/auth/otp/verify",
            OperationDoc(
                "signInWithCode",
                summary: "Exchange the code for tokens; creates the user on first sign-in.",
                tag: "auth", requestSchema: IdentitySchemas.codeSignIn,
                responses: [.json(200, "Signed in.", schema: tokens)], errorStatuses: [400, 401, 403, 422, 429])
        ) { request, context in
            let body = try await request.decode(as: CodeSignInRequest.self, context: context)
            let phone = try Self.phone(body.phone)
            let signIn = try await self.identity.signInWithCode(
                phone: phone, code: body.code,
                secondFactor: SecondFactor(totpCode: body.totpCode, recoveryCode: body.recoveryCode),
                client: Self.client(request, context))
            return TokenResponse(signIn)
        }

        api.on(
            .post, "/v1/auth/refresh",
            OperationDoc(
                "refreshTokens",
                summary: "Rotate a refresh token for a new pair; reusing a rotated token ends the session.",
                tag: "auth", requestSchema: IdentitySchemas.refresh,
                responses: [.json(200, "New tokens.", schema: tokens)], errorStatuses: [400, 401, 422])
        ) { request, context in
            let body = try await request.decode(as: RefreshRequest.self, context: context)
            return TokenResponse(
                try await self.identity.refresh(body.refreshToken, client: Self.client(request, context)))
        }

        api.on(
            .post, "/v1/auth/logout",
            OperationDoc(
                "logOut", summary: "End the current session (its refresh token and access tokens stop working).",
                tag: "auth", responses: [ResponseDoc(status: 204, description: "Signed out.")],
                errorStatuses: [401, 403])
        ) { _, context in
            let user = try context.requireUser()
            guard let session = context.caller?.sessionID.flatMap(SessionID.init) else {
                throw APIError(.unauthenticated)
            }
            try await self.identity.endSession(session, of: user)
            return Response(status: .noContent)
        }
    }

    private func addPasswordRoutes(to api: DocumentedRouter) {
        let tokens = RouteRegistry.ref("Tokens")
        let accepted: JSONValue = IdentitySchemas.object(["status"], ["status": ["type": "string"]])
        api.on(
            .post, "/v1/auth/register",
            OperationDoc(
                "register",
                summary: "Create an account with email and password; a verification link is emailed. "
                    + "The answer does not reveal whether the address is taken.",
                tag: "auth", requestSchema: IdentitySchemas.register,
                responses: [.json(202, "Check your email.", schema: accepted)], errorStatuses: [400, 422, 429])
        ) { request, context in
            let body = try await request.decode(as: RegisterRequest.self, context: context)
            try await self.identity.register(email: body.email, password: body.password, name: body.name)
            return EditedResponse(status: .accepted, response: StatusResponse(status: "verification_sent"))
        }

        api.on(
            .post, "/v1/auth/login",
            OperationDoc(
                "logIn",
                summary: "Sign in with email and password (plus totp_code or recovery_code when TOTP is on).",
                tag: "auth", requestSchema: IdentitySchemas.logIn,
                responses: [.json(200, "Signed in.", schema: tokens)], errorStatuses: [400, 401, 403, 422, 429])
        ) { request, context in
            let body = try await request.decode(as: LogInRequest.self, context: context)
            let signIn = try await self.identity.logIn(
                email: body.email, password: body.password,
                secondFactor: SecondFactor(totpCode: body.totpCode, recoveryCode: body.recoveryCode),
                client: Self.client(request, context))
            return TokenResponse(signIn)
        }

        api.on(
            .post, "/v1/auth/email/verify",
            OperationDoc(
                "verifyEmail", summary: "Use the emailed token to verify an address (or confirm a new one).",
                tag: "auth", requestSchema: IdentitySchemas.token,
                responses: [.json(200, "Verified.", schema: RouteRegistry.ref("User"))],
                errorStatuses: [400, 401, 409, 422])
        ) { request, context in
            let body = try await request.decode(as: TokenRequest.self, context: context)
            return UserResponse(user: try await self.identity.verifyEmail(token: body.token))
        }

        api.on(
            .post, "/v1/auth/password/forgot",
            OperationDoc(
                "forgotPassword", summary: "Email a password-reset link if the address has an account.",
                tag: "auth", requestSchema: IdentitySchemas.email,
                responses: [.json(202, "If the account exists, a link is on its way.", schema: accepted)],
                errorStatuses: [400, 422, 429])
        ) { request, context in
            let body = try await request.decode(as: EmailRequest.self, context: context)
            try await self.identity.forgotPassword(email: body.email)
            return EditedResponse(status: .accepted, response: StatusResponse(status: "reset_sent_if_account_exists"))
        }

        api.on(
            .post, "/v1/auth/password/reset",
            OperationDoc(
                "resetPassword", summary: "Set a new password with the emailed token; every session ends.",
                tag: "auth", requestSchema: IdentitySchemas.reset,
                responses: [ResponseDoc(status: 204, description: "Password changed.")],
                errorStatuses: [400, 401, 422])
        ) { request, context in
            let body = try await request.decode(as: ResetRequest.self, context: context)
            try await self.identity.resetPassword(token: body.token, password: body.password)
            return Response(status: .noContent)
        }
    }

    private func addTOTPRoutes(to api: DocumentedRouter) {
        api.on(
            .post, "/v1/auth/totp/enroll",
            OperationDoc(
                "enrollTOTP", summary: "Start TOTP: a secret and an otpauth:// URL for the authenticator app.",
                tag: "auth",
                responses: [
                    .json(
                        200, "Scan or type the secret, then confirm with a code.",
                        schema: IdentitySchemas.object(
                            ["secret", "otpauth_url"],
                            ["secret": ["type": "string"], "otpauth_url": ["type": "string"]]))
                ],
                errorStatuses: [401, 403, 409])
        ) { _, context in
            let enrollment = try await self.identity.enrollTOTP(try context.requireUser())
            return EnrollmentResponse(secret: enrollment.secret, otpauthURL: enrollment.otpauthURL)
        }

        api.on(
            .post, "/v1/auth/totp/confirm",
            OperationDoc(
                "confirmTOTP",
                summary: "Turn TOTP on with a current code; answers ten single-use recovery codes, shown once.",
                tag: "auth", requestSchema: IdentitySchemas.totpCode,
                responses: [
                    .json(
                        200, "TOTP is on.",
                        schema: IdentitySchemas.object(
                            ["recovery_codes"], ["recovery_codes": ["type": "array", "items": ["type": "string"]]]))
                ],
                errorStatuses: [400, 401, 403, 409, 422])
        ) { request, context in
            let user = try context.requireUser()
            let body = try await request.decode(as: TOTPCodeRequest.self, context: context)
            return RecoveryCodesResponse(recoveryCodes: try await self.identity.confirmTOTP(user, code: body.code))
        }

        api.on(
            .post, "/v1/auth/totp/disable",
            OperationDoc(
                "disableTOTP", summary: "Turn TOTP off with a current code or a recovery code.", tag: "auth",
                requestSchema: IdentitySchemas.secondFactor,
                responses: [ResponseDoc(status: 204, description: "TOTP is off.")],
                errorStatuses: [400, 401, 403, 409, 422])
        ) { request, context in
            let user = try context.requireUser()
            let body = try await request.decode(as: SecondFactorRequest.self, context: context)
            guard let factor = SecondFactor(totpCode: body.totpCode, recoveryCode: body.recoveryCode) else {
                throw APIError.invalidField("totp_code", code: "required", "send totp_code or recovery_code")
            }
            try await self.identity.disableTOTP(user, factor: factor)
            return Response(status: .noContent)
        }
    }

    private func addProfileRoutes(to api: DocumentedRouter) {
        let user = RouteRegistry.ref("User")
        api.on(
            .get, "/v1/me",
            OperationDoc(
                "getMe", summary: "The signed-in user.", tag: "me", responses: [.json(200, "The user.", schema: user)],
                errorStatuses: [401, 403])
        ) { _, context in
            let id = try context.requireUser()
            guard let found = try await self.identity.user(id, session: context.caller?.sessionID) else {
                throw APIError(.unauthenticated)
            }
            return UserResponse(user: found)
        }

        api.on(
            .patch, "/v1/me",
            OperationDoc(
                "updateMe",
                summary:
                    "Change name; a new email is verified by link, a new phone by code (POST /v1/me/phone/verify).",
                tag: "me", requestSchema: IdentitySchemas.profile, responses: [.json(200, "The user.", schema: user)],
                errorStatuses: [400, 401, 403, 422, 429])
        ) { request, context in
            let id = try context.requireUser()
            let body = try await request.decode(as: ProfileRequest.self, context: context)
            let (updated, codeSent) = try await self.identity.updateProfile(
                id, name: body.name, email: body.email, phone: body.phone, client: Self.client(request, context))
            return UserResponse(user: updated, phoneCodeSent: codeSent)
        }

        api.on(
            .post, "/v1/me/phone/verify",
            OperationDoc(
                "verifyNewPhone", summary: "Confirm a new phone number with the code texted to it.", tag: "me",
                requestSchema: IdentitySchemas.phoneCode, responses: [.json(200, "The user.", schema: user)],
                errorStatuses: [400, 401, 403, 409, 422, 429])
        ) { request, context in
            let id = try context.requireUser()
            let body = try await request.decode(as: PhoneCodeRequest.self, context: context)
            let phone = try Self.phone(body.phone)
            return UserResponse(user: try await self.identity.confirmPhoneChange(id, phone: phone, code: body.code))
        }

        api.on(
            .get, "/v1/me/sessions",
            OperationDoc(
                "listMySessions", summary: "The signed-in user's live sessions, newest first.", tag: "me",
                responses: [.json(200, "Sessions.", schema: ["type": "object"])], errorStatuses: [401, 403])
        ) { _, context in
            let id = try context.requireUser()
            let current = context.caller?.sessionID
            let sessions = try await self.identity.sessions(of: id)
            return SessionListResponse(data: sessions.map { SessionResponse($0, current: current) })
        }

        api.on(
            .delete, "/v1/me/sessions/{id}",
            OperationDoc(
                "endMySession", summary: "Sign out one of the user's sessions (another user's id answers 404).",
                tag: "me", responses: [ResponseDoc(status: 204, description: "Ended.")],
                errorStatuses: [401, 403, 404])
        ) { _, context in
            let id = try context.requireUser()
            guard let session = context.parameters.get("id").flatMap(SessionID.init) else {
                throw APIError(.sessionNotFound)
            }
            try await self.identity.endSession(session, of: id)
            return Response(status: .noContent)
        }
    }

    private func addAdminRoutes(to api: DocumentedRouter) {
        let user = RouteRegistry.ref("User")
        api.on(
            .get, "/v1/users/{id}",
            OperationDoc(
                "getUser", summary: "A user (admin).", tag: "users", responses: [.json(200, "The user.", schema: user)],
                errorStatuses: [401, 403, 404])
        ) { request, context in
            try await context.require(RoutePolicies.admin, request: request)
            guard let id = context.parameters.get("id").flatMap(UserID.init),
                let found = try await self.identity.user(id)
            else { throw APIError(.userNotFound) }
            return UserResponse(user: found)
        }

        api.on(
            .patch, "/v1/users/{id}",
            OperationDoc(
                "updateUser", summary: "Set a user's roles, trial end or disabled state (admin).", tag: "users",
                requestSchema: IdentitySchemas.adminUser, responses: [.json(200, "The user.", schema: user)],
                errorStatuses: [400, 401, 403, 404, 422])
        ) { request, context in
            try await context.require(RoutePolicies.admin, request: request)
            guard let id = context.parameters.get("id").flatMap(UserID.init) else { throw APIError(.userNotFound) }
            let body = try await request.decode(as: AdminUserRequest.self, context: context)
            var roles: Set<Role>?
            if let names = body.roles {
                let parsed = Set(names.map { Role(rawValue: $0) })
                guard parsed.isSubset(of: Roles.assignable) else {
                    throw APIError.invalidField("roles", "roles are customer, seller, partner and admin")
                }
                roles = parsed
            }
            var trialEndsAt: Timestamp??
            if let given = body.trialEndsAt {
                if let text = given {
                    guard let time = Timestamp(rfc3339: text) else {
                        throw APIError.invalidField("trial_ends_at", "an RFC 3339 time such as 2026-12-01T00:00:00Z")
                    }
                    trialEndsAt = .some(time)
                } else {
                    trialEndsAt = .some(nil)
                }
            }
            let updated = try await self.identity.updateUser(
                id, roles: roles, trialEndsAt: trialEndsAt, disabled: body.disabled)
            return UserResponse(user: updated)
        }
    }
}

struct EnrollmentResponse: ResponseEncodable, Sendable {
    let secret: String
    let otpauthURL: String

    enum CodingKeys: String, CodingKey {
        case secret
        case otpauthURL = "otpauth_url"
    }
}

struct RecoveryCodesResponse: ResponseEncodable, Sendable {
    let recoveryCodes: [String]

    enum CodingKeys: String, CodingKey {
        case recoveryCodes = "recovery_codes"
    }
}

struct SessionListResponse: ResponseEncodable, Sendable {
    let data: [SessionResponse]
}
