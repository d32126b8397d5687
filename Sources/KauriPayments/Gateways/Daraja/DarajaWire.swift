/// Safaricom Daraja's request, response and callback bodies, as documented on developer.safaricom.co.ke (M-Pesa
/// Express, M-Pesa Express Query, Business To Customer) and in safaricom/mpesa-node-library. Internal to the
/// Daraja adapter; nothing outside it may use them.
///
/// Fields Daraja writes sometimes as a number and sometimes as a string (`ResultCode`, `expires_in`, callback item
/// values) are `WireText`.
enum DarajaWire {
    /// `GET /oauth/v1/generate?grant_type=client_credentials`: `{"access_token", "expires_in"}`, where
    /// `expires_in` is a number in the docs and a string on the live API.
    struct TokenResponse: Decodable {
        var accessToken: String?
        var expiresIn: WireText?

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case expiresIn = "expires_in"
        }
    }

    /// Every error answer: `{"requestId", "errorCode", "errorMessage"}`.
    struct ErrorBody: Decodable {
        var requestID: String?
        var errorCode: String?
        var errorMessage: String?

        enum CodingKeys: String, CodingKey {
            case requestID = "requestId"
            case errorCode, errorMessage
        }

        /// The code and message on one line, for an error's text.
        var text: String { "\(self.errorCode ?? "-") \(self.errorMessage ?? "")" }
    }

    /// `POST /mpesa/stkpush/v1/processrequest`.
    struct StkPushRequest: Encodable {
        var businessShortCode: String
        var password: String
        var timestamp: String
        var transactionType: String
        var amount: Int64
        var partyA: String
        var partyB: String
        var phoneNumber: String
        var callBackURL: String
        var accountReference: String
        var transactionDesc: String

        enum CodingKeys: String, CodingKey {
            case businessShortCode = "BusinessShortCode"
            case password = "Password"
            case timestamp = "Timestamp"
            case transactionType = "TransactionType"
            case amount = "Amount"
            case partyA = "PartyA"
            case partyB = "PartyB"
            case phoneNumber = "PhoneNumber"
            case callBackURL = "CallBackURL"
            case accountReference = "AccountReference"
            case transactionDesc = "TransactionDesc"
        }
    }

    /// The STK push acknowledgement: `ResponseCode` "0" means the prompt was sent.
    struct StkPushResponse: Decodable {
        var merchantRequestID: String?
        var checkoutRequestID: String?
        var responseCode: WireText?
        var responseDescription: String?
        var customerMessage: String?

        enum CodingKeys: String, CodingKey {
            case merchantRequestID = "MerchantRequestID"
            case checkoutRequestID = "CheckoutRequestID"
            case responseCode = "ResponseCode"
            case responseDescription = "ResponseDescription"
            case customerMessage = "CustomerMessage"
        }
    }

    /// `POST /mpesa/stkpushquery/v1/query`.
    struct StkQueryRequest: Encodable {
        var businessShortCode: String
        var password: String
        var timestamp: String
        var checkoutRequestID: String

        enum CodingKeys: String, CodingKey {
            case businessShortCode = "BusinessShortCode"
            case password = "Password"
            case timestamp = "Timestamp"
            case checkoutRequestID = "CheckoutRequestID"
        }
    }

    /// The STK query answer (`ResultCode` is a string here), or an error body while the customer has not answered.
    struct StkQueryResponse: Decodable {
        var responseCode: WireText?
        var checkoutRequestID: String?
        var resultCode: WireText?
        var resultDesc: String?
        var errorCode: String?
        var errorMessage: String?

        enum CodingKeys: String, CodingKey {
            case responseCode = "ResponseCode"
            case checkoutRequestID = "CheckoutRequestID"
            case resultCode = "ResultCode"
            case resultDesc = "ResultDesc"
            case errorCode, errorMessage
        }
    }

    /// `POST /mpesa/b2c/v3/paymentrequest`.
    struct B2CRequest: Encodable {
        var originatorConversationID: String
        var initiatorName: String
        var securityCredential: String
        var commandID: String
        var amount: Int64
        var partyA: String
        var partyB: String
        var remarks: String
        var queueTimeOutURL: String
        var resultURL: String

        enum CodingKeys: String, CodingKey {
            case originatorConversationID = "OriginatorConversationID"
            case initiatorName = "InitiatorName"
            case securityCredential = "SecurityCredential"
            case commandID = "CommandID"
            case amount = "Amount"
            case partyA = "PartyA"
            case partyB = "PartyB"
            case remarks = "Remarks"
            case queueTimeOutURL = "QueueTimeOutURL"
            case resultURL = "ResultURL"
        }
    }

    /// The B2C acknowledgement: `ResponseCode` "0" means the request was queued.
    struct B2CResponse: Decodable {
        var conversationID: String?
        var originatorConversationID: String?
        var responseCode: WireText?
        var responseDescription: String?

        enum CodingKeys: String, CodingKey {
            case conversationID = "ConversationID"
            case originatorConversationID = "OriginatorConversationID"
            case responseCode = "ResponseCode"
            case responseDescription = "ResponseDescription"
        }
    }

    /// Any callback Daraja posts to us: an STK callback (`{"Body": {"stkCallback": …}}`) or a B2C result
    /// (`{"Result": …}`).
    struct Callback: Decodable {
        var body: CallbackBody?
        var result: B2CResult?

        enum CodingKeys: String, CodingKey {
            case body = "Body"
            case result = "Result"
        }
    }

    /// `Body` of an STK callback.
    struct CallbackBody: Decodable {
        var stkCallback: StkCallback?
    }

    /// The STK result: `ResultCode` is a number; `CallbackMetadata` only on success.
    struct StkCallback: Decodable {
        var merchantRequestID: String?
        var checkoutRequestID: String
        var resultCode: WireText
        var resultDesc: String?
        var callbackMetadata: CallbackMetadata?

        enum CodingKeys: String, CodingKey {
            case merchantRequestID = "MerchantRequestID"
            case checkoutRequestID = "CheckoutRequestID"
            case resultCode = "ResultCode"
            case resultDesc = "ResultDesc"
            case callbackMetadata = "CallbackMetadata"
        }
    }

    /// `CallbackMetadata: {"Item": [{"Name", "Value"?}]}`.
    struct CallbackMetadata: Decodable {
        var item: [NamedValue]

        enum CodingKeys: String, CodingKey { case item = "Item" }

        /// The value of the item called `name`, if it has one.
        func value(_ name: String) -> WireText? { self.item.first { $0.name == name }?.value }
    }

    /// An STK metadata item; `Value` may be missing (`{"Name": "Balance"}`).
    struct NamedValue: Decodable {
        var name: String
        var value: WireText?

        enum CodingKeys: String, CodingKey {
            case name = "Name"
            case value = "Value"
        }
    }

    /// A B2C result posted to `ResultURL` (or to `QueueTimeOutURL` in the same shape when it timed out in queue).
    struct B2CResult: Decodable {
        var resultType: WireText?
        var resultCode: WireText
        var resultDesc: String?
        var originatorConversationID: String
        var conversationID: String?
        var transactionID: String?
        var resultParameters: ResultParameters?

        enum CodingKeys: String, CodingKey {
            case resultType = "ResultType"
            case resultCode = "ResultCode"
            case resultDesc = "ResultDesc"
            case originatorConversationID = "OriginatorConversationID"
            case conversationID = "ConversationID"
            case transactionID = "TransactionID"
            case resultParameters = "ResultParameters"
        }
    }

    /// `ResultParameters: {"ResultParameter": [{"Key", "Value"}]}`; a single parameter may come as an object.
    struct ResultParameters: Decodable {
        var parameters: [KeyedValue]

        enum CodingKeys: String, CodingKey { case parameters = "ResultParameter" }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let many = try? container.decode([KeyedValue].self, forKey: .parameters) {
                self.parameters = many
            } else {
                self.parameters = [try container.decode(KeyedValue.self, forKey: .parameters)]
            }
        }

        /// The value of the parameter called `key`, if it has one.
        func value(_ key: String) -> WireText? { self.parameters.first { $0.key == key }?.value }
    }

    /// A B2C result parameter.
    struct KeyedValue: Decodable {
        var key: String
        var value: WireText?

        enum CodingKeys: String, CodingKey {
            case key = "Key"
            case value = "Value"
        }
    }
}
