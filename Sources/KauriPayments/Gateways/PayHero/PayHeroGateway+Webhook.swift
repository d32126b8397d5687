import KauriCore

extension PayHeroGateway {
    /// Reads a PayHero callback. PayHero signs nothing: the caller has already matched the per-payment path token,
    /// and the news is a hint to confirm with `verify` before giving value.
    ///
    /// The documented callback is `{"status": true, "response": {"Amount", "CheckoutRequestID",
    /// "ExternalReference", "MerchantRequestID", "MpesaReceiptNumber", "ResultCode", "ResultDesc", "Status"}}`.
    /// One carrying an M-Pesa STK `MerchantRequestID` or a `ws_CO_…` `CheckoutRequestID` is an STK result →
    /// `.payment` with reference = `ExternalReference`, receipt = `MpesaReceiptNumber`, and no provider reference:
    /// the callback does not carry PayHero's own `reference`, the key of its status endpoint. PayHero does not document the withdrawal callback; it is assumed to use the same
    /// envelope without the STK identifiers, and is returned as `.payout` with reference = `ExternalReference` (our
    /// refund or payout reference; the payment service decides which). `ResultCode` 0 → succeeded, 1032/1037/1019
    /// → cancelled (a failed payout for withdrawals), else failed.
    public func parseWebhook(_ webhook: IncomingWebhook) throws(WebhookError) -> [GatewayEvent] {
        [try Self.event(from: webhook.body)]
    }

    /// The normalised event of a callback body.
    static func event(from body: [UInt8]) throws(WebhookError) -> GatewayEvent {
        guard let callback = GatewayHTTPClient.decode(PayHeroWire.Callback.self, from: body) else {
            throw .malformed("payhero: the body is not a callback")
        }
        let response = callback.response
        guard let externalReference = response.externalReference, !externalReference.isEmpty else {
            throw .malformed("payhero: the callback has no ExternalReference")
        }
        guard let resultCode = response.resultCode?.value ?? Self.resultCode(status: response.status) else {
            throw .malformed("payhero: the callback has no ResultCode or Status")
        }
        var amount: Money?
        if let text = response.amount?.value {
            guard let money = GatewayAmount.money(majorUnitsText: text, currency: .kes) else {
                throw .malformed("payhero: the callback amount '\(text)' is not a KES amount")
            }
            amount = money
        }
        let outcome = Self.callbackOutcome(resultCode: resultCode, description: response.resultDesc)
        let isStkResult =
            response.merchantRequestID != nil
            || response.checkoutRequestID?.hasPrefix(Self.stkCheckoutRequestIDPrefix) == true
        if isStkResult {
            return .payment(
                GatewayPaymentStatus(
                    reference: GatewayReference(externalReference), providerReference: nil,
                    outcome: outcome, amount: amount, providerTransactionID: response.mpesaReceiptNumber))
        }
        let payoutOutcome: GatewayPayoutStatus.Outcome =
            switch outcome {
            case .succeeded: .succeeded
            case .pending: .pending
            case .failed(let code, let message), .cancelled(let code, let message):
                .failed(code: code, message: message)
            }
        return .payout(
            GatewayPayoutStatus(
                reference: GatewayReference(externalReference), providerReference: response.checkoutRequestID,
                outcome: payoutOutcome, amount: amount))
    }

    /// A result code from the callback's `Status` word when `ResultCode` is missing.
    private static func resultCode(status: String?) -> String? {
        switch status?.lowercased() {
        case "success": "0"
        case "failed": "FAILED"
        default: nil
        }
    }
}
