/// The credentials the simulators expect. They are made-up test values, not secrets: the defaults are what the
/// sandbox documents for adapters pointed at it (docs/SANDBOX.md).
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
    /// Paystack's secret key: the Bearer token of every API call and the HMAC-SHA512 key of webhook signatures.
    public var paystackSecretKey: String
    /// Daraja's consumer key, the Basic authentication user of `GET /oauth/v1/generate`.
    public var darajaConsumerKey: String
    /// Daraja's consumer secret, the Basic authentication password of `GET /oauth/v1/generate`.
    public var darajaConsumerSecret: String
    /// The Lipa na M-Pesa Online (STK push) business short code.
    public var darajaShortCode: String
    /// The STK push passkey: `Password` is base64(`BusinessShortCode` + passkey + `Timestamp`).
    public var darajaPasskey: String
    /// The B2C short code, the `PartyA` of payouts.
    public var darajaB2CShortCode: String
    /// The B2C initiator's user name, `InitiatorName`.
    public var darajaInitiatorName: String
    /// The B2C `SecurityCredential`. The real value is a base64 RSA ciphertext of the initiator password that the
    /// Daraja portal generates; the simulator only compares it as an opaque string.
    public var darajaSecurityCredential: String
    /// PayHero's API username, the Basic authentication user.
    public var payheroUsername: String
    /// PayHero's API password, the Basic authentication password.
    public var payheroPassword: String
    /// The PayHero payment channel id that payments and withdrawals must name in `channel_id`.
    public var payheroChannelID: Int

    /// Credentials; every one has a default.
    public init(
        hubtelClientID: String = "sandbox-hubtel-client",
        hubtelClientSecret: String = "sandbox-hubtel-secret",
        twilioAccountSID: String = "AC00000000000000000000000000000000",
        twilioAuthToken: String = "sandbox-twilio-token",
        africasTalkingUsername: String = "sandbox",
        africasTalkingAPIKey: String = "sandbox-africastalking-key",
        resendAPIKey: String = "re_sandbox_key",
        paystackSecretKey: String = "sk_test_kauri_sandbox_0000000000000000000000",
        darajaConsumerKey: String = "sandbox-daraja-consumer-key",
        darajaConsumerSecret: String = "sandbox-daraja-consumer-secret",
        darajaShortCode: String = "174379",
        darajaPasskey: String = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
        darajaB2CShortCode: String = "600992",
        darajaInitiatorName: String = "testapi",
        darajaSecurityCredential: String = "sandbox-daraja-security-credential",
        payheroUsername: String = "sandbox-payhero-user",
        payheroPassword: String = "sandbox-payhero-password",
        payheroChannelID: Int = 911
    ) {
        self.hubtelClientID = hubtelClientID
        self.hubtelClientSecret = hubtelClientSecret
        self.twilioAccountSID = twilioAccountSID
        self.twilioAuthToken = twilioAuthToken
        self.africasTalkingUsername = africasTalkingUsername
        self.africasTalkingAPIKey = africasTalkingAPIKey
        self.resendAPIKey = resendAPIKey
        self.paystackSecretKey = paystackSecretKey
        self.darajaConsumerKey = darajaConsumerKey
        self.darajaConsumerSecret = darajaConsumerSecret
        self.darajaShortCode = darajaShortCode
        self.darajaPasskey = darajaPasskey
        self.darajaB2CShortCode = darajaB2CShortCode
        self.darajaInitiatorName = darajaInitiatorName
        self.darajaSecurityCredential = darajaSecurityCredential
        self.payheroUsername = payheroUsername
        self.payheroPassword = payheroPassword
        self.payheroChannelID = payheroChannelID
    }
}
