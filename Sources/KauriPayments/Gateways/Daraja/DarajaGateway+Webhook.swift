import KauriCore

extension DarajaGateway {
    /// Reads a Daraja callback. Daraja signs nothing: the caller has already matched the per-payment path token,
    /// and the news is a hint to confirm with `verify` (STK) before giving value.
    ///
    /// - An STK callback (`{"Body": {"stkCallback": …}}`) → `.payment`: `ResultCode` 0 → succeeded, 1032/1037/1019
    ///   → cancelled, else failed; `CheckoutRequestID` → provider reference; on success `Amount` → `Money` in KES
    ///   and `MpesaReceiptNumber` → provider transaction id. Metadata items are read by `Name`; an item without a
    ///   `Value` (`{"Name": "Balance"}`) is tolerated. The callback does not echo our reference.
    /// - A B2C result (`{"Result": …}`) → `.payout` with reference = `OriginatorConversationID` (our refund or payout
    ///   reference — Daraja cannot tell which, so the payment service decides), `ResultCode` 0 → succeeded, else
    ///   failed, `TransactionAmount` → `Money` in KES, `ConversationID` → provider reference.
    public func parseWebhook(_ webhook: IncomingWebhook) throws(WebhookError) -> [GatewayEvent] {
        [try Self.event(from: webhook.body)]
    }

    /// The normalised event of a callback body.
    static func event(from body: [UInt8]) throws(WebhookError) -> GatewayEvent {
        guard let callback = GatewayHTTPClient.decode(DarajaWire.Callback.self, from: body) else {
            throw .malformed("mpesa: the body is not an STK callback or a B2C result")
        }
        if let stk = callback.body?.stkCallback {
            let outcome = Self.stkOutcome(resultCode: stk.resultCode.value, description: stk.resultDesc)
            var amount: Money?
            if let text = stk.callbackMetadata?.value("Amount")?.value {
                guard let money = GatewayAmount.money(majorUnitsText: text, currency: .kes) else {
                    throw .malformed("mpesa: the STK callback amount '\(text)' is not a KES amount")
                }
                amount = money
            }
            return .payment(
                GatewayPaymentStatus(
                    reference: nil, providerReference: stk.checkoutRequestID, outcome: outcome, amount: amount,
                    providerTransactionID: stk.callbackMetadata?.value("MpesaReceiptNumber")?.value))
        }
        if let result = callback.result {
            let code = result.resultCode.value
            let outcome: GatewayPayoutStatus.Outcome =
                code == "0"
                ? .succeeded : .failed(code: code, message: result.resultDesc ?? "M-Pesa B2C result \(code)")
            var amount: Money?
            if let text = result.resultParameters?.value("TransactionAmount")?.value {
                guard let money = GatewayAmount.money(majorUnitsText: text, currency: .kes) else {
                    throw .malformed("mpesa: the B2C TransactionAmount '\(text)' is not a KES amount")
                }
                amount = money
            }
            return .payout(
                GatewayPayoutStatus(
                    reference: GatewayReference(result.originatorConversationID),
                    providerReference: result.conversationID, outcome: outcome, amount: amount))
        }
        throw .malformed("mpesa: the body is neither an STK callback nor a B2C result")
    }
}
