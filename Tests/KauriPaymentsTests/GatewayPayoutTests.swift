import AsyncHTTPClient
import Foundation
import KauriCore
import KauriPayments
import KauriSandbox
import Testing

/// Payouts through each adapter against the sandbox over loopback HTTP: the request is accepted (pending), then the
/// provider's result arrives by webhook or callback, and the adapter reads it as a success — or, for the sandbox's
/// failing destination (numbers ending 0001), as a failure — under our payout reference.
@Suite("Gateway payouts through the sandbox")
struct GatewayPayoutTests {
    typealias Harness = SandboxPaymentSimulatorTests

    struct PayoutCase: Sendable, CustomTestStringConvertible {
        let name: GatewayName
        let currency: Currency
        let amount: Int64
        let succeedingPhone: String
        let failingPhone: String
        let provider: MobileMoneyProvider
        var testDescription: String { self.name.rawValue }

        static let all = [
            PayoutCase(
                name: .paystack, currency: .ghs, amount: 5_000, succeedingPhone: "+233551234987",
                failingPhone: "+233551230001", provider: .mtn),
            PayoutCase(
                name: .mpesa, currency: .kes, amount: 10_000, succeedingPhone: "+254708374149",
                failingPhone: "+254708370001", provider: .mpesa),
            PayoutCase(
                name: .payhero, currency: .kes, amount: 10_000, succeedingPhone: "+254712345678",
                failingPhone: "+254712340001", provider: .mpesa),
        ]
    }

    static func gateway(_ name: GatewayName, sandbox: SandboxServer, client: HTTPClient) -> any PaymentGateway {
        let credentials = sandbox.credentials
        switch name {
        case .paystack:
            return PaystackGateway(
                configuration: .init(
                    secretKey: Secret(credentials.paystackSecretKey), baseURL: sandbox.baseURL + "/paystack"),
                httpClient: client)
        case .mpesa:
            return DarajaGateway(
                configuration: .init(
                    consumerKey: Secret(credentials.darajaConsumerKey),
                    consumerSecret: Secret(credentials.darajaConsumerSecret), shortCode: credentials.darajaShortCode,
                    passkey: Secret(credentials.darajaPasskey), b2cShortCode: credentials.darajaB2CShortCode,
                    initiatorName: credentials.darajaInitiatorName,
                    securityCredential: Secret(credentials.darajaSecurityCredential),
                    baseURL: sandbox.baseURL + "/daraja"),
                httpClient: client, clock: SystemClock())
        default:
            return PayHeroGateway(
                configuration: .init(
                    username: Secret(credentials.payheroUsername), password: Secret(credentials.payheroPassword),
                    channelID: credentials.payheroChannelID, baseURL: sandbox.baseURL + "/payhero/api/v2"),
                httpClient: client)
        }
    }

    @Test(
        "a payout is accepted, then reported succeeded; one to the failing number is reported failed",
        arguments: PayoutCase.all)
    func payoutSucceedsAndFails(_ payoutCase: PayoutCase) async throws {
        try await Harness.run { sandbox, client, receiver in
            sandbox.payments.setPaystackWebhookURL(receiver.baseURL + "/paystack")
            let gateway = Self.gateway(payoutCase.name, sandbox: sandbox, client: client)
            #expect(gateway.capabilities.contains(.payout))
            for (reference, phone, succeeds) in [
                ("po-ok-\(payoutCase.name)", payoutCase.succeedingPhone, true),
                ("po-fail-\(payoutCase.name)", payoutCase.failingPhone, false),
            ] {
                let request = GatewayPayoutRequest(
                    reference: GatewayReference(reference),
                    amount: Money(minorUnits: payoutCase.amount, currency: payoutCase.currency),
                    destination: .mobileMoney(
                        phone: try PhoneNumber(parsing: phone), provider: payoutCase.provider, name: "Ama Mensah"),
                    reason: "Seller payout", callbackURL: receiver.baseURL + "/callback/\(reference)")
                let started = try await gateway.payout(request)
                #expect(started.reference == request.reference)
                // Paystack may fail an impossible transfer at once; the others answer "queued".
                if started.outcome != .pending {
                    #expect(!succeeds && payoutCase.name == .paystack, "\(started)")
                    continue
                }
                let news = try await Self.payoutNews(reference: request.reference, gateway: gateway, receiver: receiver)
                #expect(news.reference == request.reference)
                if succeeds {
                    #expect(news.outcome == .succeeded, "\(news)")
                } else {
                    guard case .failed = news.outcome else {
                        Issue.record("expected a failed payout, got \(news.outcome)")
                        continue
                    }
                }
                if let amount = news.amount { #expect(amount == request.amount) }
            }
            // The same reference again is refused by the provider, never paid twice.
            let again = GatewayPayoutRequest(
                reference: GatewayReference("po-ok-\(payoutCase.name)"),
                amount: Money(minorUnits: payoutCase.amount, currency: payoutCase.currency),
                destination: .mobileMoney(
                    phone: try PhoneNumber(parsing: payoutCase.succeedingPhone), provider: payoutCase.provider,
                    name: "Ama Mensah"),
                reason: "Seller payout", callbackURL: receiver.baseURL + "/callback/again")
            do {
                let answer = try await gateway.payout(again)
                // Paystack answers an existing reference with the transfer it already has.
                #expect(payoutCase.name == .paystack && answer.outcome != .pending, "\(answer)")
            } catch let error as GatewayError {
                guard case .duplicateReference = error else {
                    Issue.record("expected duplicateReference, got \(error)")
                    return
                }
            }
            let paid = sandbox.payments.records(
                provider: Self.sandboxProvider(payoutCase.name), reference: "po-ok-\(payoutCase.name)")
            #expect(paid.count == 1)
        }
    }

    static func sandboxProvider(_ name: GatewayName) -> SandboxProvider {
        switch name {
        case .paystack: .paystack
        case .mpesa: .daraja
        default: .payhero
        }
    }

    /// Waits for the provider's result about `reference` and reads it with the adapter (signature included).
    static func payoutNews(
        reference: GatewayReference, gateway: any PaymentGateway, receiver: Harness.CallbackReceiver
    ) async throws -> GatewayPayoutStatus {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            for callback in receiver.all {
                let events = try gateway.parseWebhook(
                    IncomingWebhook(headers: callback.headers, body: callback.body, pathToken: nil))
                for case .payout(let status) in events where status.reference == reference {
                    return status
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw PayoutTimeout(reference: reference.value)
    }

    struct PayoutTimeout: Error {
        let reference: String
    }
}
