import AsyncHTTPClient
import Foundation
import KauriCore
import Synchronization
import Testing

@testable import KauriPayments

/// Pure tests of the gateway adapters: webhook signatures and parsing of the providers' documented example
/// payloads, request formats, and amount refusals. Nothing here touches the network: every refusal tested happens
/// before an HTTP call, and the adapters point at a closed loopback port in case one did not.
@Suite struct GatewayAdapterUnitTests {
    /// A base URL no request can reach (port 9, discard, closed on test machines).
    static let unreachableBaseURL = "http://127.0.0.1:9"

    // MARK: - Documented payloads

    /// Paystack's `charge.success` for a mobile-money payment, from PaystackOSS/doc-code-snippets
    /// `src/doc/payments/payment-methods/mobile-event/index.json`, with the whitespace between tokens removed.
    static let paystackChargeSuccess =
        #"{"event":"charge.success","data":{"id":59214,"domain":"live","status":"success","reference":"gf4n3yk"#
        + #"zj6a7u89","amount":100,"message":"madePayment","gateway_response":"Approved","paid_at":"2018-11-15T0"#
        + #"6:10:54.000Z","created_at":"2018-11-15T06:10:32.000Z","channel":"mobile_money","currency":"GHS","ip_"#
        + #"address":"18.130.236.148, 141.101.99.73","metadata":"","log":null,"fees":153,"fees_split":null,"auth"#
        + #"orization":{"authorization_code":"AUTH_0aqm8ddx6s","bin":"055XXX","last4":"X149","exp_month":"12","e"#
        + #"xp_year":"9999","channel":"mobile_money","card_type":"","bank":"MTN Mobile Money","country_code":"GH"#
        + #"","brand":"Mtn mobile money","reusable":false,"signature":null,"account_name":"BoJack Horseman"},"cu"#
        + #"stomer":{"id":16678,"first_name":"Babafemi","last_name":"Aluko","email":"customer@email.com","custom"#
        + #"er_code":"CUS_2jk1i8ezoam49br","phone":"","metadata":null,"risk_action":"allow"},"plan":{},"subaccou"#
        + #"nt":{},"subaccount_group":{},"paidAt":"2018-11-15T06:10:54.000Z"}}"#
    /// The key the signature below was made with.
    static let paystackSecretKey = "sk_test_kauri_documented_example"
    /// `hex(HMAC-SHA512(paystackSecretKey, paystackChargeSuccess))`, computed outside Swift with
    /// `openssl dgst -sha512 -hmac` and Python's `hmac` (both agree).
    static let paystackChargeSuccessSignature =
        "1875a577bba474e9d5224d6e9ac17dcd9676dd6cacf116628296ae1f905dbc61"
        + "e4d14b6206a72470c42b03580c4b189d4b6a741d57cfd48e441d27e39394196f"

    /// Paystack's `refund.processed`, from PaystackOSS/doc-code-snippets
    /// `src/doc/payments/webhooks/events/refund-processed.json` (its `amount` is a string).
    static let paystackRefundProcessed = #"""
        {
        	"event": "refund.processed",
        	"data": {
        		"status": "processed",
        		"transaction_reference": "T2154954_412829_3be32076_6lcg3",
        		"refund_reference": "132013318360",
        		"amount": "5000",
        		"currency": "NGN",
        		"processor": "mpgs_zen",
        		"customer": {
        			"first_name": "Damilola",
        			"last_name": "Kwabena",
        			"email": "damilola@email.com"
        		},
        		"integration": 412829,
        		"domain": "live"
        	}
        }
        """#

    /// Paystack's `transfer.success`, from PaystackOSS/doc-code-snippets
    /// `src/doc/payments/webhooks/events/transfer-successful.json`.
    static let paystackTransferSuccess = #"""
        {
          "event": "transfer.success",
          "data": {
            "amount": 100000,
            "createdAt": "2025-08-04T10:32:40.000Z",
            "currency": "NGN",
            "domain": "test",
            "failures": null,
            "id": 860703114,
            "integration": {
              "id": 463433,
              "is_live": true,
              "business_name": "Paystack Demo",
              "logo_path": "https://public-files-paystack-prod.s3.eu-west-1.amazonaws.com/\#
        integration-logos/hpyxo8n1c7du6gxup7h6.png"
            },
            "reason": "Bonus for the week",
            "reference": "acv_9ee55786-2323-4760-98e2-6380c9cb3f68",
            "source": "balance",
            "source_details": null,
            "status": "success",
            "titan_code": null,
            "transfer_code": "TRF_v5tip3zx8nna9o78",
            "transferred_at": null,
            "updatedAt": "2025-08-04T10:32:40.000Z",
            "recipient": {
              "active": true,
              "createdAt": "2023-07-11T15:42:27.000Z",
              "currency": "NGN",
              "description": "",
              "domain": "test",
              "email": null,
              "id": 56824902,
              "integration": 463433,
              "metadata": null,
              "name": "Jekanmo Padie",
              "recipient_code": "RCP_gd9vgag7n5lr5ix",
              "type": "nuban",
              "updatedAt": "2023-07-11T15:42:27.000Z",
              "is_deleted": false,
              "details": {
                "authorization_code": null,
                "account_number": "9876543210",
                "account_name": null,
                "bank_code": "044",
                "bank_name": "Access Bank"
              }
            },
            "session": {
              "provider": null,
              "id": null
            },
            "fee_charged": 0,
            "gateway_response": null
          }
        }
        """#

    /// Daraja's STK callback success sample (developer.safaricom.co.ke M-Pesa Express, docs/gateways.md §3.4), with
    /// the `{"Name":"Balance"}` item without a `Value` that live callbacks carry (captured payload in
    /// PatrickNthiwa/Daraja_mpesa_api_C2B).
    static let darajaStkSuccess = #"""
        {"Body":{"stkCallback":{
          "MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925",
          "ResultCode":0,"ResultDesc":"The service request is processed successfully.",
          "CallbackMetadata":{"Item":[
            {"Name":"Amount","Value":1.00},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},
            {"Name":"Balance"},
            {"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}]}}}}
        """#

    /// Daraja's STK callback failure sample (docs/gateways.md §3.4).
    static let darajaStkCancelled = #"""
        {"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1",
          "CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}
        """#

    /// Daraja's B2C result sample (developer.safaricom.co.ke Business To Customer, docs/gateways.md §3.6); the
    /// values elided there are filled with the portal sample's.
    static let darajaB2CResult = #"""
        {"Result":{"ResultType":0,"ResultCode":0,"ResultDesc":"The service request is processed successfully.",
          "OriginatorConversationID":"5118-111210482-1","ConversationID":"AG_20240706_2010325b025970fbc403",
          "TransactionID":"SG632NMUAB","ResultParameters":{"ResultParameter":[
            {"Key":"TransactionAmount","Value":10},{"Key":"TransactionReceipt","Value":"SG632NMUAB"},
            {"Key":"ReceiverPartyPublicName","Value":"254705912645 - NICHOLAS JOHN SONGOK"},
            {"Key":"TransactionCompletedDateTime","Value":"06.07.2024 22:48:52"},
            {"Key":"B2CUtilityAccountAvailableFunds","Value":10116.00},
            {"Key":"B2CWorkingAccountAvailableFunds","Value":900000.00},
            {"Key":"B2CRecipientIsRegisteredCustomer","Value":"Y"},
            {"Key":"B2CChargesPaidAccountAvailableFunds","Value":-4510.00}]},
          "ReferenceData":{"ReferenceItem":{"Key":"QueueTimeoutURL",
            "Value":"https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"}}}}
        """#

    /// PayHero's STK callback (docs.payhero.co.ke "Callback URL Response Sample", docs/gateways.md §4.3).
    static let payHeroCallback = #"""
        {"forward_url":"","status":true,
         "response":{"Amount":10,"CheckoutRequestID":"ws_CO_14012024103543427709099876","ExternalReference":"INV-009",
           "MerchantRequestID":"3202-70921557-1","MpesaReceiptNumber":"SAE3YULR0Y","Phone":"+254709099876",
           "ResultCode":0,"ResultDesc":"The service request is processed successfully.","Status":"Success"}}
        """#

    // MARK: - Paystack webhook signature

    private func paystack(secretKey: String = Self.paystackSecretKey) -> PaystackGateway {
        PaystackGateway(
            configuration: .init(secretKey: Secret(secretKey), baseURL: Self.unreachableBaseURL),
            httpClient: HTTPClient.shared)
    }

    private func paystackWebhook(_ body: String, signature: String?) -> IncomingWebhook {
        var headers = ["content-type": "application/json"]
        if let signature { headers["x-paystack-signature"] = signature }
        return IncomingWebhook(headers: headers, body: Array(body.utf8), pathToken: nil)
    }

    @Test func paystackAcceptsTheDocumentedPayloadSignedWithTheSecretKey() throws {
        let events = try self.paystack().parseWebhook(
            self.paystackWebhook(Self.paystackChargeSuccess, signature: Self.paystackChargeSuccessSignature))
        #expect(
            events == [
                .payment(
                    GatewayPaymentStatus(
                        reference: GatewayReference("gf4n3ykzj6a7u89"), providerReference: "gf4n3ykzj6a7u89",
                        outcome: .succeeded, amount: Money(minorUnits: 100, currency: .ghs),
                        providerTransactionID: "59214"))
            ])
    }

    @Test func paystackAcceptsAnUpperCaseHexSignature() throws {
        let events = try self.paystack().parseWebhook(
            self.paystackWebhook(
                Self.paystackChargeSuccess, signature: Self.paystackChargeSuccessSignature.uppercased()))
        #expect(events.count == 1)
    }

    @Test func paystackRefusesTheSignatureWhenOneBodyByteChanges() {
        var body = Array(Self.paystackChargeSuccess.utf8)
        let index = try! #require(body.firstIndex(of: UInt8(ascii: "1")))
        body[index] = UInt8(ascii: "2")
        let webhook = IncomingWebhook(
            headers: ["x-paystack-signature": Self.paystackChargeSuccessSignature], body: body, pathToken: nil)
        #expect(throws: WebhookError.signatureInvalid) { try self.paystack().parseWebhook(webhook) }
    }

    @Test func paystackRefusesAWebhookWithoutTheSignatureHeader() {
        #expect(throws: WebhookError.signatureMissing) {
            try self.paystack().parseWebhook(self.paystackWebhook(Self.paystackChargeSuccess, signature: nil))
        }
    }

    @Test func paystackRefusesASignatureMadeWithAnotherKey() {
        #expect(throws: WebhookError.signatureInvalid) {
            try self.paystack(secretKey: "sk_test_another_key").parseWebhook(
                self.paystackWebhook(Self.paystackChargeSuccess, signature: Self.paystackChargeSuccessSignature))
        }
    }

    @Test func paystackRefusesATruncatedSignature() {
        #expect(throws: WebhookError.signatureInvalid) {
            try self.paystack().parseWebhook(
                self.paystackWebhook(
                    Self.paystackChargeSuccess, signature: String(Self.paystackChargeSuccessSignature.dropLast(2))))
        }
    }

    // MARK: - Paystack event parsing

    @Test func paystackRefundProcessedBecomesASucceededRefundOfThePayment() throws {
        let event = try PaystackGateway.event(from: Array(Self.paystackRefundProcessed.utf8))
        #expect(
            event
                == .refund(
                    GatewayRefundStatus(
                        reference: nil, paymentReference: GatewayReference("T2154954_412829_3be32076_6lcg3"),
                        providerReference: "132013318360", outcome: .succeeded,
                        amount: Money(minorUnits: 5000, currency: .ngn))))
    }

    @Test func paystackTransferSuccessBecomesASucceededPayoutByOurReference() throws {
        let event = try PaystackGateway.event(from: Array(Self.paystackTransferSuccess.utf8))
        #expect(
            event
                == .payout(
                    GatewayPayoutStatus(
                        reference: GatewayReference("acv_9ee55786-2323-4760-98e2-6380c9cb3f68"),
                        providerReference: "TRF_v5tip3zx8nna9o78", outcome: .succeeded,
                        amount: Money(minorUnits: 100_000, currency: .ngn))))
    }

    @Test func paystackTransferReversedBecomesAFailedPayout() throws {
        let body = Self.paystackTransferSuccess.replacingOccurrences(
            of: "\"transfer.success\"", with: "\"transfer.reversed\"")
        guard case .payout(let status) = try PaystackGateway.event(from: Array(body.utf8)) else {
            Issue.record("not a payout")
            return
        }
        #expect(status.outcome == .failed(code: "reversed", message: "the transfer reversed"))
    }

    @Test func paystackEventsWeDoNotActOnAreIgnored() throws {
        let body = #"{"event":"subscription.create","data":{"subscription_code":"SUB_vsyqdmlzble3uii"}}"#
        #expect(try PaystackGateway.event(from: Array(body.utf8)) == .ignored(type: "subscription.create"))
    }

    @Test func paystackRefusesAnAuthenticBodyThatIsNotAnEvent() {
        #expect(throws: WebhookError.self) { try PaystackGateway.event(from: Array("[1,2]".utf8)) }
    }

    // MARK: - Daraja callbacks

    @Test func darajaStkSuccessCallbackCarriesAmountReceiptAndCheckoutRequestID() throws {
        let event = try DarajaGateway.event(from: Array(Self.darajaStkSuccess.utf8))
        #expect(
            event
                == .payment(
                    GatewayPaymentStatus(
                        reference: nil, providerReference: "ws_CO_191220191020363925", outcome: .succeeded,
                        amount: Money(minorUnits: 100, currency: .kes), providerTransactionID: "NLJ7RT61SV")))
    }

    @Test func darajaStkCallbackCancelledByTheUserIsCancelled() throws {
        let event = try DarajaGateway.event(from: Array(Self.darajaStkCancelled.utf8))
        #expect(
            event
                == .payment(
                    GatewayPaymentStatus(
                        reference: nil, providerReference: "ws_CO_191220191020363925",
                        outcome: .cancelled(code: "1032", message: "Request cancelled by user"), amount: nil,
                        providerTransactionID: nil)))
    }

    @Test func darajaStkCallbackWithInsufficientBalanceIsFailed() throws {
        let body = Self.darajaStkCancelled.replacingOccurrences(of: "1032", with: "1")
            .replacingOccurrences(of: "Request cancelled by user", with: "The balance is insufficient")
        guard case .payment(let status) = try DarajaGateway.event(from: Array(body.utf8)) else {
            Issue.record("not a payment")
            return
        }
        #expect(status.outcome == .failed(code: "1", message: "The balance is insufficient"))
    }

    @Test func darajaB2CResultIsAPayoutByOriginatorConversationID() throws {
        let event = try DarajaGateway.event(from: Array(Self.darajaB2CResult.utf8))
        #expect(
            event
                == .payout(
                    GatewayPayoutStatus(
                        reference: GatewayReference("5118-111210482-1"),
                        providerReference: "AG_20240706_2010325b025970fbc403", outcome: .succeeded,
                        amount: Money(minorUnits: 1_000, currency: .kes))))
    }

    @Test func darajaFailedB2CResultWithoutParametersIsAFailedPayout() throws {
        let body = #"""
            {"Result":{"ResultType":0,"ResultCode":2001,"ResultDesc":"The initiator information is invalid.",
              "OriginatorConversationID":"re-0001","ConversationID":"AG_1","TransactionID":"SG60000000"}}
            """#
        #expect(
            try DarajaGateway.event(from: Array(body.utf8))
                == .payout(
                    GatewayPayoutStatus(
                        reference: GatewayReference("re-0001"), providerReference: "AG_1",
                        outcome: .failed(code: "2001", message: "The initiator information is invalid."),
                        amount: nil)))
    }

    @Test func darajaRefusesABodyThatIsNeitherCallback() {
        #expect(throws: WebhookError.self) { try DarajaGateway.event(from: Array(#"{"Body":{}}"#.utf8)) }
    }

    // MARK: - Daraja request formats

    @Test func darajaTimestampIsEastAfricaTimeByDefaultAndUTCWhenAsked() {
        let time = Timestamp(unixMilliseconds: 1_576_740_075_000)  // 2019-12-19T07:21:15Z
        #expect(DarajaGateway.timestamp(at: time, timeZone: .eastAfrica) == "20191219102115")
        #expect(DarajaGateway.timestamp(at: time, timeZone: .utc) == "20191219072115")
    }

    @Test func darajaPasswordIsBase64OfShortCodePasskeyAndTimestamp() {
        // Sandbox shortcode and passkey (safaricom/mpesa-node-library tests.env); expected value from Python's base64.
        let password = DarajaGateway.password(
            shortCode: "174379", passkey: "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
            timestamp: "20191219102115")
        #expect(
            password
                == "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQy"
                + "YzkxOTIwMTkxMjE5MTAyMTE1")
    }

    @Test func darajaTokenAnswerIsReadWhetherExpiresInIsANumberOrAString() throws {
        let number = try JSONDecoder().decode(
            DarajaWire.TokenResponse.self, from: Data(#"{"access_token":"abc","expires_in":3599}"#.utf8))
        let string = try JSONDecoder().decode(
            DarajaWire.TokenResponse.self, from: Data(#"{"access_token":"abc","expires_in":"3599"}"#.utf8))
        #expect(number.expiresIn?.integer == 3599)
        #expect(string.expiresIn?.integer == 3599)
    }

    @Test func darajaTokenCacheReusesATokenUntilShortlyBeforeExpiry() async throws {
        let clock = ManualClock(Timestamp(unixMilliseconds: 1_700_000_000_000))
        let cache = DarajaTokenCache(clock: clock)
        let fetches = FetchCounter()
        let fetch: DarajaTokenCache.Fetch = { () async throws(GatewayError) in
            let count = fetches.increment()
            return ("token-\(count)", 3599)
        }
        #expect(try await cache.accessToken(fetch: fetch) == "token-1")
        clock.advance(milliseconds: 3_000_000)
        #expect(try await cache.accessToken(fetch: fetch) == "token-1")
        clock.advance(milliseconds: 540_000)  // 3540 s in: within the refresh margin of the 3599 s lifetime
        #expect(try await cache.accessToken(fetch: fetch) == "token-2")
        await cache.invalidate("token-2")
        #expect(try await cache.accessToken(fetch: fetch) == "token-3")
    }

    // MARK: - PayHero callbacks

    @Test func payHeroCallbackIsAPaymentByExternalReference() throws {
        let event = try PayHeroGateway.event(from: Array(Self.payHeroCallback.utf8))
        #expect(
            event
                == .payment(
                    GatewayPaymentStatus(
                        reference: GatewayReference("INV-009"), providerReference: nil,
                        outcome: .succeeded, amount: Money(minorUnits: 1_000, currency: .kes),
                        providerTransactionID: "SAE3YULR0Y")))
    }

    @Test func payHeroCancelledCallbackIsCancelled() throws {
        let body = #"""
            {"forward_url":"","status":false,
             "response":{"Amount":10,"CheckoutRequestID":"ws_CO_14012024103543427709099876",
               "ExternalReference":"INV-009","MerchantRequestID":"3202-70921557-1","Phone":"+254709099876",
               "ResultCode":1032,"ResultDesc":"Request cancelled by user","Status":"Failed"}}
            """#
        guard case .payment(let status) = try PayHeroGateway.event(from: Array(body.utf8)) else {
            Issue.record("not a payment")
            return
        }
        #expect(status.outcome == .cancelled(code: "1032", message: "Request cancelled by user"))
        #expect(status.providerTransactionID == nil)
    }

    @Test func payHeroCallbackWithoutStkIdentifiersIsTakenAsAWithdrawalResult() throws {
        // Assumed shape (PayHero does not document its withdrawal callback): the same envelope, no STK identifiers.
        let body = #"""
            {"status":true,"response":{"Amount":100,"CheckoutRequestID":"553125-97e66f37-200d-47ef-84bb-eb9b64ab8ad5",
              "ExternalReference":"po-0001","ResultCode":0,"ResultDesc":"Success","Status":"Success"}}
            """#
        #expect(
            try PayHeroGateway.event(from: Array(body.utf8))
                == .payout(
                    GatewayPayoutStatus(
                        reference: GatewayReference("po-0001"),
                        providerReference: "553125-97e66f37-200d-47ef-84bb-eb9b64ab8ad5", outcome: .succeeded,
                        amount: Money(minorUnits: 10_000, currency: .kes))))
    }

    @Test func payHeroStatusMapping() {
        #expect(PayHeroGateway.paymentOutcome(status: "SUCCESS", resultCode: nil, description: nil) == .succeeded)
        #expect(PayHeroGateway.paymentOutcome(status: "QUEUED", resultCode: nil, description: nil) == .pending)
        #expect(PayHeroGateway.paymentOutcome(status: "PENDING", resultCode: nil, description: nil) == .pending)
        #expect(
            PayHeroGateway.paymentOutcome(status: "FAILED", resultCode: "1032", description: "Request cancelled")
                == .cancelled(code: "1032", message: "Request cancelled"))
        #expect(
            PayHeroGateway.paymentOutcome(status: "FAILED", resultCode: "1", description: "Insufficient balance")
                == .failed(code: "1", message: "Insufficient balance"))
    }

    // MARK: - Amounts

    @Test func mpesaAmountsAreWholeShillings() throws {
        #expect(try MpesaFormat.shillings(Money(minorUnits: 100, currency: .kes)) == 1)
        #expect(try MpesaFormat.shillings(Money(minorUnits: 25_000_000, currency: .kes)) == 250_000)
    }

    @Test func mpesaRefusesFractionalShillings() {
        #expect(throws: GatewayError.self) { try MpesaFormat.shillings(Money(minorUnits: 150, currency: .kes)) }
    }

    @Test func mpesaRefusesAmountsOutsideTheTransactionLimits() {
        #expect(throws: GatewayError.self) { try MpesaFormat.shillings(Money(minorUnits: 0, currency: .kes)) }
        #expect(throws: GatewayError.self) { try MpesaFormat.shillings(Money(minorUnits: -100, currency: .kes)) }
        #expect(throws: GatewayError.self) {
            try MpesaFormat.shillings(Money(minorUnits: 25_000_100, currency: .kes))
        }
        #expect(throws: GatewayError.self) { try MpesaFormat.shillings(Money(minorUnits: .max, currency: .kes)) }
    }

    @Test func mpesaRefusesOtherCurrencies() {
        #expect(throws: GatewayError.self) { try MpesaFormat.shillings(Money(minorUnits: 10_000, currency: .ngn)) }
    }

    @Test func mpesaPhonesAreTwelveDigitSafaricomNumbers() throws {
        #expect(try MpesaFormat.msisdn(PhoneNumber(parsing: "0712 345 678", defaultCountry: .kenya)) == "254712345678")
        #expect(throws: GatewayError.self) { try MpesaFormat.msisdn(PhoneNumber(parsing: "+233241234567")) }
        #expect(throws: GatewayError.self) { try MpesaFormat.msisdn(PhoneNumber(parsing: "+254733123456")) }
    }

    @Test func providerDecimalAmountsConvertExactly() {
        #expect(GatewayAmount.money(majorUnitsText: "1", currency: .kes) == Money(minorUnits: 100, currency: .kes))
        #expect(GatewayAmount.money(majorUnitsText: "10.5", currency: .kes) == Money(minorUnits: 1_050, currency: .kes))
        #expect(GatewayAmount.money(majorUnitsText: "1.000", currency: .kes) == Money(minorUnits: 100, currency: .kes))
        #expect(GatewayAmount.money(majorUnitsText: "0.001", currency: .kes) == nil)
        #expect(GatewayAmount.money(majorUnitsText: "1e3", currency: .kes) == nil)
        #expect(GatewayAmount.money(wholeUnits: .max, currency: .kes) == nil)
        #expect(GatewayAmount.money(minorUnitsText: "5000", currency: .ngn) == Money(minorUnits: 5_000, currency: .ngn))
        #expect(GatewayAmount.money(minorUnitsText: "50.5", currency: .ngn) == nil)
    }

    @Test func darajaRefusesAFractionalShillingChargeBeforeAnyCall() async {
        let gateway = DarajaGateway(
            configuration: .init(
                consumerKey: Secret("key"), consumerSecret: Secret("secret"), shortCode: "174379",
                passkey: Secret("passkey"), b2cShortCode: "600000", initiatorName: "testapi",
                securityCredential: Secret("credential"), baseURL: Self.unreachableBaseURL),
            httpClient: HTTPClient.shared, clock: ManualClock(Timestamp(unixMilliseconds: 1_576_740_075_000)))
        let request = MobileMoneyChargeRequest(
            reference: GatewayReference("pay-0001"), amount: Money(minorUnits: 1_050, currency: .kes),
            phone: try! PhoneNumber(parsing: "254708374149"), provider: .mpesa, customerEmail: "a@example.com",
            description: "Order 1042", callbackURL: "https://example.com/v1/webhooks/mpesa/token")
        await #expect(throws: GatewayError.self) { try await gateway.chargeMobileMoney(request) }
        do {
            _ = try await gateway.chargeMobileMoney(request)
        } catch let error as GatewayError {
            guard case .invalidRequest = error else {
                Issue.record("expected invalidRequest, got \(error)")
                return
            }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func paystackRefusesAnUnsupportedCurrencyBeforeAnyCall() async {
        let request = MobileMoneyChargeRequest(
            reference: GatewayReference("pay-0002"), amount: Money(minorUnits: 1_000, currency: .ugx),
            phone: try! PhoneNumber(parsing: "+256772123456"), provider: .mtn, customerEmail: "a@example.com",
            description: "Order 1043", callbackURL: "https://example.com/unused")
        do {
            _ = try await self.paystack().chargeMobileMoney(request)
            Issue.record("the charge was not refused")
        } catch let error as GatewayError {
            guard case .invalidRequest = error else {
                Issue.record("expected invalidRequest, got \(error)")
                return
            }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func paystackMobileMoneyUsesLocalGhanaNumbersAndTelcoCodes() throws {
        let phone = try PhoneNumber(parsing: "+233551234987")
        let mtn = try PaystackGateway.mobileMoney(phone: phone, provider: .mtn, currency: .ghs)
        #expect(mtn.phone == "0551234987" && mtn.provider == "mtn")
        #expect(try PaystackGateway.mobileMoney(phone: phone, provider: .telecel, currency: .ghs).provider == "vod")
        #expect(try PaystackGateway.mobileMoney(phone: phone, provider: .airteltigo, currency: .ghs).provider == "atl")
        let kenyan = try PaystackGateway.mobileMoney(
            phone: try PhoneNumber(parsing: "254700000000"), provider: .mpesa, currency: .kes)
        #expect(kenyan.phone == "254700000000" && kenyan.provider == "mpesa_offline")
        #expect(throws: GatewayError.self) {
            try PaystackGateway.mobileMoney(phone: phone, provider: .mpesa, currency: .ghs)
        }
    }

    @Test func paystackStatusMapping() {
        #expect(PaystackGateway.paymentOutcome(status: "success", message: nil) == .succeeded)
        #expect(PaystackGateway.paymentOutcome(status: "ongoing", message: nil) == .pending)
        #expect(PaystackGateway.paymentOutcome(status: "queued", message: nil) == .pending)
        #expect(
            PaystackGateway.paymentOutcome(status: "failed", message: "Declined")
                == .failed(code: "failed", message: "Declined"))
        // A checkout not finished yet is "abandoned" too: it must not end the payment.
        #expect(PaystackGateway.paymentOutcome(status: "abandoned", message: "Abandoned") == .pending)
        #expect(PaystackGateway.isReferenceNotFound("Transaction reference not found"))
        #expect(PaystackGateway.isDuplicateReference("Duplicate Transaction Reference"))
        #expect(
            PaystackGateway.isDuplicateReference(
                "Please provide a unique reference. Reference already exists on a transfer"))
        #expect(PaystackGateway.isTransferReference("po-0001_a"))
        #expect(!PaystackGateway.isTransferReference("PO-0001"))
    }
}

/// Counts token fetches in the cache test.
private final class FetchCounter: Sendable {
    private let count = Mutex(0)

    /// Adds one and returns the new count.
    func increment() -> Int {
        self.count.withLock {
            $0 += 1
            return $0
        }
    }
}
