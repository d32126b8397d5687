/// The credentials the simulators expect. They are made-up test values, not secrets: the defaults are what the
/// sandbox documents for adapters pointed at it.
public struct SandboxCredentials: Sendable, Hashable {
    /// Hubtel's Basic authentication user.
    public var hubtelClientID: String
    /// Hubtel's Basic authentication password.
    public var hubtelClientSecret: String
    /// Twilio's account SID: the Basic authentication user and the `{AccountSid}` in the path.
    public var twilioAccountSID: String
    /// Twilio's auth token, the Basic authentication password.
    public var twilioAuthToken: String
    /// Africa's Talking's application username, sent in the form.
    public var africasTalkingUsername: String
    /// Africa's Talking's API key, sent in the `apiKey` header.
    public var africasTalkingAPIKey: String
    /// Resend's API key, sent as a Bearer token.
    public var resendAPIKey: String

    /// Credentials; every one has a default.
    public init(
        hubtelClientID: String = "sandbox-hubtel-client",
        hubtelClientSecret: String = "sandbox-hubtel-secret",
        twilioAccountSID: String = "AC00000000000000000000000000000000",
        twilioAuthToken: String = "sandbox-twilio-token",
        africasTalkingUsername: String = "sandbox",
        africasTalkingAPIKey: String = "sandbox-africastalking-key",
        resendAPIKey: String = "re_sandbox_key"
    ) {
        self.hubtelClientID = hubtelClientID
        self.hubtelClientSecret = hubtelClientSecret
        self.twilioAccountSID = twilioAccountSID
        self.twilioAuthToken = twilioAuthToken
        self.africasTalkingUsername = africasTalkingUsername
        self.africasTalkingAPIKey = africasTalkingAPIKey
        self.resendAPIKey = resendAPIKey
    }
}
