import Crypto
import Foundation
import KauriCore

extension PaystackGateway {
    /// Checks `x-paystack-signature` — the lowercase hex HMAC-SHA512 of the raw body keyed with the secret key —
    /// in constant time, then reads the event.
    ///
    /// `charge.success` → `.payment` (succeeded); `refund.pending|processing|processed|failed` → `.refund` (the
    /// event names the payment by `transaction_reference` and carries no reference of ours: the refund is matched
    /// by payment and amount, or confirmed with `findRefund`); `transfer.success|failed|reversed` → `.payout` by our
    /// transfer reference; any other event → `.ignored`.
    public func parseWebhook(_ webhook: IncomingWebhook) throws(WebhookError) -> [GatewayEvent] {
        guard let signature = webhook.headers[Self.signatureHeader] else { throw .signatureMissing }
        guard Self.isSignatureValid(signature, body: webhook.body, secretKey: self.configuration.secretKey.value)
        else { throw .signatureInvalid }
        return [try Self.event(from: webhook.body)]
    }

    /// Whether `signature` is the lowercase hex HMAC-SHA512 of `body` under `secretKey`, compared in constant time.
    static func isSignatureValid(_ signature: String, body: [UInt8], secretKey: String) -> Bool {
        let code = HMAC<SHA512>.authenticationCode(for: body, using: SymmetricKey(data: Array(secretKey.utf8)))
        let hexDigits = Array("0123456789abcdef".utf8)
        var expected: [UInt8] = []
        expected.reserveCapacity(SHA512.byteCount * 2)
        for byte in code {
            expected.append(hexDigits[Int(byte >> 4)])
            expected.append(hexDigits[Int(byte & 0x0F)])
        }
        let given = Array(signature.trimmingCharacters(in: .whitespaces).lowercased().utf8)
        return ConstantTime.isEqual(expected, given)
    }

    /// The normalised event of an authentic body.
    static func event(from body: [UInt8]) throws(WebhookError) -> GatewayEvent {
        guard let envelope = GatewayHTTPClient.decode(PaystackWire.Event.self, from: body) else {
            throw .malformed("paystack: the body is not an event")
        }
        switch envelope.event {
        case "charge.success":
            let data = try Self.data(PaystackWire.TransactionData.self, from: body, event: envelope.event)
            guard let reference = data.reference else { throw .malformed("paystack: charge.success has no reference") }
            return .payment(
                GatewayPaymentStatus(
                    reference: GatewayReference(reference), providerReference: reference, outcome: .succeeded,
                    amount: try Self.eventMoney(data.amount, currency: data.currency, event: envelope.event),
                    providerTransactionID: data.id?.value))
        case "refund.pending", "refund.processing", "refund.processed", "refund.failed":
            let data = try Self.data(PaystackWire.RefundEventData.self, from: body, event: envelope.event)
            guard let status = data.status, let paymentReference = data.transactionReference else {
                throw .malformed("paystack: \(envelope.event) has no status or transaction_reference")
            }
            return .refund(
                GatewayRefundStatus(
                    reference: nil, paymentReference: GatewayReference(paymentReference),
                    providerReference: data.refundReference, outcome: Self.refundOutcome(status: status),
                    amount: try Self.eventMoney(data.amount, currency: data.currency, event: envelope.event)))
        case "transfer.success", "transfer.failed", "transfer.reversed":
            let data = try Self.data(PaystackWire.TransferData.self, from: body, event: envelope.event)
            guard let reference = data.reference else {
                throw .malformed("paystack: \(envelope.event) has no reference")
            }
            let status = String(envelope.event.dropFirst("transfer.".count))
            return .payout(
                GatewayPayoutStatus(
                    reference: GatewayReference(reference), providerReference: data.transferCode,
                    outcome: Self.payoutOutcome(status: status, message: nil),
                    amount: try Self.eventMoney(data.amount, currency: data.currency, event: envelope.event)))
        default:
            return .ignored(type: envelope.event)
        }
    }

    /// The `data` object of an event in a given shape.
    private static func data<Payload: Decodable>(
        _ type: Payload.Type, from body: [UInt8], event: String
    ) throws(WebhookError) -> Payload {
        guard let data = GatewayHTTPClient.decode(PaystackWire.Envelope<Payload>.self, from: body)?.data else {
            throw .malformed("paystack: \(event) has no readable data")
        }
        return data
    }

    /// An event's subunit amount as `Money`; nil when the event has none.
    private static func eventMoney(
        _ amount: WireText?, currency code: String?, event: String
    ) throws(WebhookError)
        -> Money?
    {
        guard let amount else { return nil }
        guard let code, let currency = Currency(code: code.uppercased()),
            let money = GatewayAmount.money(minorUnitsText: amount.value, currency: currency)
        else { throw .malformed("paystack: \(event) has an unreadable amount or currency") }
        return money
    }
}
