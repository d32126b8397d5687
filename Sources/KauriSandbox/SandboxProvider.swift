/// The providers the sandbox simulates; the raw values are the adapters' provider names.
public enum SandboxProvider: String, Sendable, Hashable, CaseIterable {
    /// Hubtel SMS.
    case hubtel
    /// Twilio Messages.
    case twilio
    /// Africa's Talking SMS.
    case africasTalking = "africastalking"
    /// Resend email.
    case resend
    /// Paystack payments: hosted checkout, mobile-money charges, refunds and transfers.
    case paystack
    /// Safaricom M-Pesa Daraja: STK push, STK query and B2C payouts.
    case daraja
    /// PayHero Kenya: M-Pesa STK collections and withdrawals.
    case payhero
}
