/// The messaging providers the sandbox simulates; the raw values are the adapters' provider names.
public enum SandboxProvider: String, Sendable, Hashable, CaseIterable {
    /// Hubtel SMS.
    case hubtel
    /// Twilio Messages.
    case twilio
    /// Africa's Talking SMS.
    case africasTalking = "africastalking"
    /// Resend email.
    case resend
}
