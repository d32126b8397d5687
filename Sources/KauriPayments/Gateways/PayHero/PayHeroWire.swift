/// PayHero Kenya's request, response and callback bodies, as documented on docs.payhero.co.ke ("Initiate MPESA STK
/// Push Request", "Transaction Status", "Withdraw To Mobile") and in PAY-HERO-KENYA/payhero-php-package. Internal
/// to the PayHero adapter; nothing outside it may use them.
enum PayHeroWire {
    /// `POST /payments`.
    struct PaymentRequest: Encodable {
        var amount: Int64
        var phoneNumber: String
        var channelID: Int
        var provider: String
        var externalReference: String
        var callbackURL: String
        var customerName: String?

        enum CodingKeys: String, CodingKey {
            case amount, provider
            case phoneNumber = "phone_number"
            case channelID = "channel_id"
            case externalReference = "external_reference"
            case callbackURL = "callback_url"
            case customerName = "customer_name"
        }
    }

    /// The answer to `POST /payments`: `{"success": true, "status": "QUEUED", "reference", "CheckoutRequestID"}`.
    struct PaymentResponse: Decodable {
        var success: Bool?
        var status: String?
        var reference: String?
        var checkoutRequestID: String?

        enum CodingKeys: String, CodingKey {
            case success, status, reference
            case checkoutRequestID = "CheckoutRequestID"
        }
    }

    /// The answer to `GET /transaction-status?reference=…`. `ResultCode`/`ResultDesc`/`amount` are read when
    /// present; the documented sample carries only `status` and the references.
    struct StatusResponse: Decodable {
        var success: Bool?
        var status: String?
        var reference: String?
        var providerReference: String?
        var thirdPartyReference: String?
        var amount: WireText?
        var resultCode: WireText?
        var resultDesc: String?

        enum CodingKeys: String, CodingKey {
            case success, status, reference, amount
            case providerReference = "provider_reference"
            case thirdPartyReference = "third_party_reference"
            case resultCode = "ResultCode"
            case resultDesc = "ResultDesc"
        }
    }

    /// `POST /withdraw` to a mobile wallet.
    struct WithdrawRequest: Encodable {
        var amount: Int64
        var phoneNumber: String
        var networkCode: String
        var externalReference: String
        var callbackURL: String
        var channel: String

        enum CodingKeys: String, CodingKey {
            case amount, channel
            case phoneNumber = "phone_number"
            case networkCode = "network_code"
            case externalReference = "external_reference"
            case callbackURL = "callback_url"
        }
    }

    /// The answer to `POST /withdraw`: `{"status": "QUEUED", "merchant_reference", "checkout_request_id",
    /// "response_code", "conversation_id"}`.
    struct WithdrawResponse: Decodable {
        var status: String?
        var merchantReference: String?
        var checkoutRequestID: String?
        var responseCode: WireText?
        var conversationID: String?

        enum CodingKeys: String, CodingKey {
            case status
            case merchantReference = "merchant_reference"
            case checkoutRequestID = "checkout_request_id"
            case responseCode = "response_code"
            case conversationID = "conversation_id"
        }
    }

    /// Error answers come in several shapes; every field that may carry the provider's words.
    struct ErrorBody: Decodable {
        var message: String?
        var errorMessage: String?
        var errorCode: String?
        var error: WireText?

        enum CodingKeys: String, CodingKey {
            case message, error
            case errorMessage = "error_message"
            case errorCode = "error_code"
        }

        /// The provider's words, if any.
        var text: String? { self.errorMessage ?? self.message ?? self.error?.value }
    }

    /// A callback: `{"forward_url": "", "status": true, "response": {...}}`.
    struct Callback: Decodable {
        var status: Bool?
        var response: CallbackResponse
    }

    /// The `response` of a callback.
    struct CallbackResponse: Decodable {
        var amount: WireText?
        var checkoutRequestID: String?
        var externalReference: String?
        var merchantRequestID: String?
        var mpesaReceiptNumber: String?
        var resultCode: WireText?
        var resultDesc: String?
        var status: String?

        enum CodingKeys: String, CodingKey {
            case amount = "Amount"
            case checkoutRequestID = "CheckoutRequestID"
            case externalReference = "ExternalReference"
            case merchantRequestID = "MerchantRequestID"
            case mpesaReceiptNumber = "MpesaReceiptNumber"
            case resultCode = "ResultCode"
            case resultDesc = "ResultDesc"
            case status = "Status"
        }
    }
}
