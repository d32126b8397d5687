/// Paystack's request and response bodies, as documented in PaystackOSS/openapi `dist/paystack.yaml` and the
/// PaystackOSS/doc-code-snippets samples. Internal to the Paystack adapter; nothing outside it may use them.
///
/// Response fields are optional because error bodies and older payloads omit them; amounts are `WireText`
/// because Paystack writes them as numbers in most places and as strings in some webhooks (`refund.processed`).
enum PaystackWire {
    /// Every answer: `{"status": true|false, "message": "...", "data": ...}`.
    struct Envelope<Payload: Decodable>: Decodable {
        var status: Bool?
        var message: String?
        var data: Payload?
    }

    /// An answer whose `data` we do not read (errors).
    struct Empty: Decodable {}

    /// `POST /transaction/initialize`.
    struct InitializeRequest: Encodable {
        var email: String
        var amount: Int64
        var currency: String
        var reference: String
        var callbackURL: String?
        var metadata: Metadata

        enum CodingKeys: String, CodingKey {
            case email, amount, currency, reference, metadata
            case callbackURL = "callback_url"
        }
    }

    /// Metadata we attach to transactions, shown on the Paystack dashboard.
    struct Metadata: Encodable {
        var kauriReference: String
        var description: String

        enum CodingKeys: String, CodingKey {
            case kauriReference = "kauri_reference"
            case description
        }
    }

    /// The `data` of an initialize answer.
    struct InitializeData: Decodable {
        var authorizationURL: String?
        var accessCode: String?
        var reference: String?

        enum CodingKeys: String, CodingKey {
            case authorizationURL = "authorization_url"
            case accessCode = "access_code"
            case reference
        }
    }

    /// `POST /charge` with a mobile-money object.
    struct ChargeRequest: Encodable {
        var email: String
        var amount: Int64
        var currency: String
        var reference: String
        var mobileMoney: MobileMoney
        var metadata: Metadata

        enum CodingKeys: String, CodingKey {
            case email, amount, currency, reference, metadata
            case mobileMoney = "mobile_money"
        }
    }

    /// `mobile_money: {phone, provider}`.
    struct MobileMoney: Encodable {
        var phone: String
        var provider: String
    }

    /// The `data` of a charge answer (`pay_offline`, `send_otp`, `pending`, `success`, `failed`, …).
    struct ChargeData: Decodable {
        var id: WireText?
        var reference: String?
        var status: String?
        var displayText: String?
        var message: String?
        var gatewayResponse: String?
        var amount: WireText?
        var currency: String?

        enum CodingKeys: String, CodingKey {
            case id, reference, status, message, amount, currency
            case displayText = "display_text"
            case gatewayResponse = "gateway_response"
        }
    }

    /// The `data` of `GET /transaction/verify/{reference}` and of a `charge.success` event.
    struct TransactionData: Decodable {
        var id: WireText?
        var reference: String?
        var status: String?
        var amount: WireText?
        var currency: String?
        var gatewayResponse: String?

        enum CodingKeys: String, CodingKey {
            case id, reference, status, amount, currency
            case gatewayResponse = "gateway_response"
        }
    }

    /// `POST /refund`.
    struct RefundRequest: Encodable {
        var transaction: String
        var amount: Int64
        var currency: String
        var merchantNote: String

        enum CodingKeys: String, CodingKey {
            case transaction, amount, currency
            case merchantNote = "merchant_note"
        }
    }

    /// A refund as `POST /refund` and `GET /refund` describe it. `transaction` is an object in the create answer
    /// and the transaction's numeric id in the list answer.
    struct RefundData: Decodable {
        var id: WireText?
        var status: String?
        var amount: WireText?
        var currency: String?
        var merchantNote: String?
        var transaction: RefundTransaction?

        enum CodingKeys: String, CodingKey {
            case id, status, amount, currency, transaction
            case merchantNote = "merchant_note"
        }
    }

    /// The refunded transaction: `{"reference": …}` in a create answer, a bare id in a list.
    struct RefundTransaction: Decodable {
        var reference: String?

        enum CodingKeys: String, CodingKey { case reference }

        init(from decoder: any Decoder) throws {
            if let object = try? decoder.container(keyedBy: CodingKeys.self) {
                self.reference = try object.decodeIfPresent(String.self, forKey: .reference)
            } else {
                self.reference = nil
            }
        }
    }

    /// `POST /transferrecipient`.
    struct RecipientRequest: Encodable {
        var type: String
        var name: String
        var accountNumber: String
        var bankCode: String
        var currency: String

        enum CodingKeys: String, CodingKey {
            case type, name, currency
            case accountNumber = "account_number"
            case bankCode = "bank_code"
        }
    }

    /// The `data` of a recipient answer.
    struct RecipientData: Decodable {
        var recipientCode: String?

        enum CodingKeys: String, CodingKey { case recipientCode = "recipient_code" }
    }

    /// `POST /transfer`.
    struct TransferRequest: Encodable {
        var source: String
        var amount: Int64
        var recipient: String
        var reference: String
        var reason: String
        var currency: String
    }

    /// A transfer as `POST /transfer` and the `transfer.*` events describe it.
    struct TransferData: Decodable {
        var reference: String?
        var transferCode: String?
        var status: String?
        var amount: WireText?
        var currency: String?
        var reason: String?

        enum CodingKeys: String, CodingKey {
            case reference, status, amount, currency, reason
            case transferCode = "transfer_code"
        }
    }

    /// A webhook's outer shape: `{"event": "<name>", "data": {...}}`.
    struct Event: Decodable {
        var event: String
    }

    /// A `refund.*` event's data.
    struct RefundEventData: Decodable {
        var status: String?
        var transactionReference: String?
        var refundReference: String?
        var amount: WireText?
        var currency: String?

        enum CodingKeys: String, CodingKey {
            case status, amount, currency
            case transactionReference = "transaction_reference"
            case refundReference = "refund_reference"
        }
    }
}
