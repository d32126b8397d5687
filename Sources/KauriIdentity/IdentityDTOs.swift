import Foundation
import Hummingbird
import KauriCore
import KauriHTTP

/// A user as the API shows it.
struct UserResponse: ResponseEncodable, Sendable {
    let user: User
    var phoneCodeSent: Bool? = nil

    enum CodingKeys: String, CodingKey {
        case id, phone, email, name, roles
        case emailVerified = "email_verified"
        case pendingEmail = "pending_email"
        case trialEndsAt = "trial_ends_at"
        case totpEnabled = "totp_enabled"
        case disabled
        case createdAt = "created_at"
        case phoneCodeSent = "phone_code_sent"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.user.id.description, forKey: .id)
        try container.encode(self.user.phone, forKey: .phone)
        try container.encode(self.user.email, forKey: .email)
        try container.encode(self.user.emailVerifiedAt != nil, forKey: .emailVerified)
        try container.encode(self.user.pendingEmail, forKey: .pendingEmail)
        try container.encode(self.user.name, forKey: .name)
        try container.encode(self.user.roles.map(\.rawValue).sorted(), forKey: .roles)
        try container.encode(self.user.trialEndsAt?.rfc3339, forKey: .trialEndsAt)
        try container.encode(self.user.totpEnabledAt != nil, forKey: .totpEnabled)
        try container.encode(self.user.disabledAt != nil, forKey: .disabled)
        try container.encode(self.user.createdAt.rfc3339, forKey: .createdAt)
        try container.encodeIfPresent(self.phoneCodeSent, forKey: .phoneCodeSent)
    }

    static let schema: JSONValue = [
        "type": "object",
        "required": [
            "id", "phone", "email", "email_verified", "pending_email", "name", "roles", "trial_ends_at",
            "totp_enabled", "disabled", "created_at",
        ],
        "properties": [
            "id": ["type": "string"], "phone": ["type": ["string", "null"]], "email": ["type": ["string", "null"]],
            "email_verified": ["type": "boolean"], "pending_email": ["type": ["string", "null"]],
            "name": ["type": ["string", "null"]],
            "roles": [
                "type": "array", "items": ["type": "string", "enum": ["customer", "seller", "partner", "admin"]],
            ],
            "trial_ends_at": ["type": ["string", "null"], "format": "date-time"], "totp_enabled": ["type": "boolean"],
            "disabled": ["type": "boolean"], "created_at": ["type": "string", "format": "date-time"],
            "phone_code_sent": ["type": "boolean"],
        ],
    ]
}

/// The answer to a sign-in or refresh.
struct TokenResponse: ResponseEncodable, Sendable {
    let accessToken: String
    let refreshToken: String
    let tokenType = "Bearer"
    let expiresIn: Int
    let user: UserResponse

    init(_ signIn: SignIn) {
        self.accessToken = signIn.accessToken
        self.refreshToken = signIn.refreshToken
        self.expiresIn = signIn.expiresIn
        self.user = UserResponse(user: signIn.user)
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case refreshToken = "refresh_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case user
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["access_token", "refresh_token", "token_type", "expires_in", "user"],
        "properties": [
            "access_token": ["type": "string"], "refresh_token": ["type": "string"],
            "token_type": ["type": "string", "enum": ["Bearer"]], "expires_in": ["type": "integer"],
            "user": RouteRegistry.ref("User"),
        ],
    ]
}

/// A session as `GET /v1/me/sessions` lists it.
struct SessionResponse: ResponseEncodable, Sendable {
    let id: String
    let method: String
    let clientAddress: String?
    let userAgent: String?
    let createdAt: String
    let lastUsedAt: String
    let expiresAt: String
    let current: Bool

    init(_ session: SessionInfo, current: String?) {
        self.id = session.id.description
        self.method = session.method
        self.clientAddress = session.clientAddress
        self.userAgent = session.userAgent
        self.createdAt = session.createdAt.rfc3339
        self.lastUsedAt = session.lastUsedAt.rfc3339
        self.expiresAt = session.expiresAt.rfc3339
        self.current = session.id.description == current
    }

    enum CodingKeys: String, CodingKey {
        case id, method, current
        case clientAddress = "client_address"
        case userAgent = "user_agent"
        case createdAt = "created_at"
        case lastUsedAt = "last_used_at"
        case expiresAt = "expires_at"
    }
}

/// A JSON object with one or two fields, for small answers.
struct StatusResponse: ResponseEncodable, Sendable {
    let status: String
    var expiresInSeconds: Int? = nil

    enum CodingKeys: String, CodingKey {
        case status
        case expiresInSeconds = "expires_in_seconds"
    }
}

struct PhoneRequest: Decodable, Sendable {
    let phone: String
}

struct CodeSignInRequest: Decodable, Sendable {
    let phone: String
    let code: String
    let totpCode: String?
    let recoveryCode: String?

    enum CodingKeys: String, CodingKey {
        case phone, code
        case totpCode = "totp_code"
        case recoveryCode = "recovery_code"
    }
}

struct RegisterRequest: Decodable, Sendable {
    let email: String
    let password: String
    let name: String?
}

struct LogInRequest: Decodable, Sendable {
    let email: String
    let password: String
    let totpCode: String?
    let recoveryCode: String?

    enum CodingKeys: String, CodingKey {
        case email, password
        case totpCode = "totp_code"
        case recoveryCode = "recovery_code"
    }
}

struct RefreshRequest: Decodable, Sendable {
    let refreshToken: String

    enum CodingKeys: String, CodingKey {
        case refreshToken = "refresh_token"
    }
}

struct TokenRequest: Decodable, Sendable {
    let token: String
}

struct ResetRequest: Decodable, Sendable {
    let token: String
    let password: String
}

struct EmailRequest: Decodable, Sendable {
    let email: String
}

struct TOTPCodeRequest: Decodable, Sendable {
    let code: String
}

struct SecondFactorRequest: Decodable, Sendable {
    let totpCode: String?
    let recoveryCode: String?

    enum CodingKeys: String, CodingKey {
        case totpCode = "totp_code"
        case recoveryCode = "recovery_code"
    }
}

/// `PATCH /v1/me`: absent fields stay; `name: null` clears the name.
struct ProfileRequest: Decodable, Sendable {
    let name: String??
    let email: String?
    let phone: String?

    enum CodingKeys: String, CodingKey {
        case name, email, phone
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = container.contains(.name) ? .some(try container.decode(String?.self, forKey: .name)) : nil
        self.email = try container.decodeIfPresent(String.self, forKey: .email)
        self.phone = try container.decodeIfPresent(String.self, forKey: .phone)
    }
}

struct PhoneCodeRequest: Decodable, Sendable {
    let phone: String
    let code: String
}

/// `PATCH /v1/users/{id}` (admin).
struct AdminUserRequest: Decodable, Sendable {
    let roles: [String]?
    let trialEndsAt: String??
    let disabled: Bool?

    enum CodingKeys: String, CodingKey {
        case roles, disabled
        case trialEndsAt = "trial_ends_at"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.roles = try container.decodeIfPresent([String].self, forKey: .roles)
        self.trialEndsAt =
            container.contains(.trialEndsAt) ? .some(try container.decode(String?.self, forKey: .trialEndsAt)) : nil
        self.disabled = try container.decodeIfPresent(Bool.self, forKey: .disabled)
    }
}

extension SecondFactor {
    /// The factor in a request body: TOTP code first, else recovery code.
    init?(totpCode: String?, recoveryCode: String?) {
        if let totpCode {
            self = .totp(totpCode)
        } else if let recoveryCode {
            self = .recoveryCode(recoveryCode)
        } else {
            return nil
        }
    }
}

/// Request schemas for the OpenAPI document.
enum IdentitySchemas {
    static func object(_ required: [String], _ properties: JSONValue) -> JSONValue {
        ["type": "object", "required": .array(required.map { .string($0) }), "properties": properties]
    }

    static let string: JSONValue = ["type": "string"]
    static let phone = object(["phone"], ["phone": ["type": "string", "example": "+233241234567"]])
    static let codeSignIn = object(
        ["phone", "code"],
        [
            "phone": string, "code": ["type": "string", "pattern": "^[0-9]{6}$"], "totp_code": string,
            "recovery_code": string,
        ])
    static let register = object(
        ["email", "password"],
        [
            "email": ["type": "string", "format": "email"], "password": ["type": "string", "minLength": 10],
            "name": string,
        ])
    static let logIn = object(
        ["email", "password"],
        [
            "email": ["type": "string", "format": "email"], "password": string, "totp_code": string,
            "recovery_code": string,
        ])
    static let refresh = object(["refresh_token"], ["refresh_token": string])
    static let token = object(["token"], ["token": string])
    static let reset = object(
        ["token", "password"], ["token": string, "password": ["type": "string", "minLength": 10]])
    static let email = object(["email"], ["email": ["type": "string", "format": "email"]])
    static let totpCode = object(["code"], ["code": string])
    static let secondFactor = object([], ["totp_code": string, "recovery_code": string])
    static let profile = object([], ["name": ["type": ["string", "null"]], "email": string, "phone": string])
    static let phoneCode = object(["phone", "code"], ["phone": string, "code": string])
    static let adminUser = object(
        [],
        [
            "roles": ["type": "array", "items": string],
            "trial_ends_at": ["type": ["string", "null"], "format": "date-time"],
            "disabled": ["type": "boolean"],
        ])
}
