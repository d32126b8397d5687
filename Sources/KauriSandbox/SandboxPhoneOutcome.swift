/// How a simulated payment ends, scripted by the last four digits of the payer's phone number (or, for payouts,
/// of the destination phone or account number). docs/SANDBOX.md documents the table for developers.
enum SandboxPhoneOutcome: Sendable, Hashable {
    /// The payment succeeds and the callback or webhook is sent.
    case success
    /// The payer has too little money: Daraja `ResultCode` 1, Paystack `failed` with "Insufficient funds".
    case insufficientFunds
    /// The payer dismissed the prompt: Daraja `ResultCode` 1032 "Request cancelled by user".
    case cancelledByUser
    /// The payment succeeds but its callback is never sent; only the status APIs tell.
    case successWithoutCallback
    /// The payment never completes: no callback, and the status APIs keep answering pending.
    case neverCompletes

    /// The outcome of a payment from `phone`: `…0001` insufficient funds, `…0002` cancelled, `…0003` success
    /// without callback, `…0004` never completes, anything else success. Non-digits are ignored.
    static func forPayer(_ phone: String) -> SandboxPhoneOutcome {
        switch self.lastFourDigits(phone) {
        case "0001": .insufficientFunds
        case "0002": .cancelledByUser
        case "0003": .successWithoutCallback
        case "0004": .neverCompletes
        default: .success
        }
    }

    /// Whether a payout or refund to `destination` (a phone or account number) fails: it does when it ends in
    /// `0001`.
    static func payoutFails(to destination: String) -> Bool {
        self.lastFourDigits(destination) == "0001"
    }

    /// The last four digits of `text`, ignoring everything that is not an ASCII digit.
    private static func lastFourDigits(_ text: String) -> String {
        String(text.filter { $0.isASCII && $0.isNumber }.suffix(4))
    }
}
