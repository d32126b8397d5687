import KauriHTTP

extension ErrorCode {
    /// The phone number is not a supported mobile number.
    public static let invalidPhone = ErrorCode("auth.invalid_phone", status: 422, title: "Invalid phone number")
    /// The email address is malformed.
    public static let invalidEmail = ErrorCode("auth.invalid_email", status: 422, title: "Invalid email address")
    /// The password breaks the policy (too short, too long, too common).
    public static let weakPassword = ErrorCode("auth.weak_password", status: 422, title: "Password too weak")
    /// The one-time code is wrong, or there is no open challenge for this phone.
    public static let codeInvalid = ErrorCode("auth.code_invalid", status: 401, title: "Invalid code")
    /// The one-time code's five minutes are over.
    public static let codeExpired = ErrorCode("auth.code_expired", status: 401, title: "Code expired")
    /// Five wrong codes burned the challenge; request a new code.
    public static let tooManyAttempts = ErrorCode(
        "auth.too_many_attempts", status: 429, title: "Too many wrong codes")
    /// Too many codes were requested for this phone or from this address.
    public static let tooManyCodes = ErrorCode("auth.too_many_codes", status: 429, title: "Too many codes requested")
    /// Email or password wrong, or sign-in paused after repeated failures (deliberately indistinguishable).
    public static let invalidCredentials = ErrorCode(
        "auth.invalid_credentials", status: 401, title: "Invalid credentials")
    /// The password was right but the email address is not verified yet.
    public static let emailNotVerified = ErrorCode(
        "auth.email_not_verified", status: 403, title: "Email address not verified")
    /// The account has two-factor authentication: send `totp_code` or `recovery_code`.
    public static let totpRequired = ErrorCode(
        "auth.totp_required", status: 401, title: "Two-factor code required")
    /// The TOTP or recovery code is wrong or already used.
    public static let totpInvalid = ErrorCode("auth.totp_invalid", status: 401, title: "Invalid two-factor code")
    /// TOTP is already on (disable it first to enrol a new authenticator).
    public static let totpAlreadyEnabled = ErrorCode(
        "auth.totp_already_enabled", status: 409, title: "Two-factor authentication already enabled")
    /// No TOTP enrolment to confirm, or TOTP is off.
    public static let totpNotEnrolled = ErrorCode(
        "auth.totp_not_enrolled", status: 409, title: "No two-factor enrolment")
    /// The access token, refresh token or emailed token is malformed, forged or unknown.
    public static let tokenInvalid = ErrorCode("auth.token_invalid", status: 401, title: "Invalid token")
    /// The token has expired.
    public static let tokenExpired = ErrorCode("auth.token_expired", status: 401, title: "Token expired")
    /// The session was ended (logout, password reset, reuse of a rotated refresh token, account disabled).
    public static let sessionRevoked = ErrorCode("auth.session_revoked", status: 401, title: "Session ended")
    /// A refresh token was presented again after it had been rotated: the whole session is revoked.
    public static let refreshTokenReused = ErrorCode(
        "auth.refresh_token_reused", status: 401, title: "Refresh token reused")
    /// The email address belongs to another account.
    public static let emailTaken = ErrorCode("auth.email_taken", status: 409, title: "Email address in use")
    /// The phone number belongs to another account.
    public static let phoneTaken = ErrorCode("auth.phone_taken", status: 409, title: "Phone number in use")
    /// The trial is over and this route needs a paid account.
    public static let trialExpired = ErrorCode("account.trial_expired", status: 402, title: "Trial expired")
    /// An admin disabled the account.
    public static let accountDisabled = ErrorCode("auth.account_disabled", status: 403, title: "Account disabled")
    /// No such user (admin routes).
    public static let userNotFound = ErrorCode("auth.user_not_found", status: 404, title: "User not found")
    /// No such session of the caller's.
    public static let sessionNotFound = ErrorCode("auth.session_not_found", status: 404, title: "Session not found")
}

/// The identity module's problem codes, for docs/ERRORS.md and its test.
public enum IdentityErrorCodes {
    /// Every code the identity routes answer with.
    public static let all: [ErrorCode] = [
        .invalidPhone, .invalidEmail, .weakPassword, .codeInvalid, .codeExpired, .tooManyAttempts, .tooManyCodes,
        .invalidCredentials, .emailNotVerified, .totpRequired, .totpInvalid, .totpAlreadyEnabled, .totpNotEnrolled,
        .tokenInvalid, .tokenExpired, .sessionRevoked, .refreshTokenReused, .emailTaken, .phoneTaken, .trialExpired,
        .accountDisabled, .userNotFound, .sessionNotFound,
    ]
}
