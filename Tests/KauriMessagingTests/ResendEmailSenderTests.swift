import AsyncHTTPClient
import KauriCore
import KauriMessaging
import KauriSandbox
import Testing

@Suite("Resend adapter against the sandbox")
struct ResendEmailSenderTests {
    static let email = EmailMessage(
        to: "ama@example.com", subject: "Your Kauri receipt — ₵120.00",
        text: "Thank you & welcome!\nÀ bientôt 😀")

    static func sender(
        _ sandbox: SandboxServer, _ client: HTTPClient, apiKey: String? = nil, timeout: Duration = .seconds(5)
    ) throws -> ResendEmailSender {
        ResendEmailSender(
            configuration: try .init(
                apiKey: Secret(apiKey ?? sandbox.credentials.resendAPIKey), from: "Kauri <receipts@kauri.example>",
                baseURL: sandbox.baseURL),
            httpClient: client, requestTimeout: timeout, logger: SandboxHarness.quietLogger)
    }

    @Test("an email is accepted and Resend saw exactly what was sent")
    func accepted() async throws {
        try await SandboxHarness.run { sandbox, client in
            let sender = try Self.sender(sandbox, client)
            let receipt = try await sender.send(Self.email)
            let recorded = sandbox.log.all
            try #require(recorded.count == 1)
            #expect(recorded[0].provider == .resend)
            #expect(recorded[0].to == "ama@example.com")
            #expect(recorded[0].from == "Kauri <receipts@kauri.example>")
            #expect(recorded[0].subject == Self.email.subject)
            #expect(recorded[0].body == Self.email.text)
            #expect(receipt.provider == "resend")
            #expect(receipt.providerMessageID == recorded[0].providerMessageID)
        }
    }

    @Test("a wrong API key is permanent and stays out of the error")
    func wrongKey() async throws {
        try await SandboxHarness.run { sandbox, client in
            let sender = try Self.sender(sandbox, client, apiKey: "re_wrong_key")
            let error = await #expect(throws: DeliveryError.self) { try await sender.send(Self.email) }
            #expect(error?.kind == .permanent)
            #expect(error?.detail.contains("invalid_api_key") == true)
            #expect(error?.detail.contains("re_wrong_key") == false)
            #expect(sandbox.log.all.isEmpty)
        }
    }

    @Test("injected HTTP failures are classified", arguments: HTTPFault.all)
    func injectedFailure(_ fault: HTTPFault) async throws {
        try await SandboxHarness.run { sandbox, client in
            sandbox.faults.failNext(provider: .resend, status: fault.status)
            let sender = try Self.sender(sandbox, client)
            let error = await #expect(throws: DeliveryError.self) { try await sender.send(Self.email) }
            #expect(error?.kind == fault.kind)
            #expect(sandbox.log.all.isEmpty)
        }
    }

    @Test("a recipient Resend refuses is permanent")
    func refusedRecipient() async throws {
        try await SandboxHarness.run { sandbox, client in
            sandbox.faults.rejectRecipient("ama@example.com")
            let sender = try Self.sender(sandbox, client)
            let error = await #expect(throws: DeliveryError.self) { try await sender.send(Self.email) }
            #expect(error?.kind == .permanent)
            #expect(error?.detail.contains("422") == true)
        }
    }

    @Test("a timeout is retryable")
    func timeout() async throws {
        try await SandboxHarness.run { sandbox, client in
            sandbox.faults.delayNext(provider: .resend, by: .seconds(2))
            let sender = try Self.sender(sandbox, client, timeout: .milliseconds(300))
            let error = await #expect(throws: DeliveryError.self) { try await sender.send(Self.email) }
            #expect(error?.kind == .retryable)
        }
    }

    @Test("a retry with the same idempotency key is delivered once")
    func idempotencyKey() async throws {
        try await SandboxHarness.run { sandbox, client in
            let sender = try Self.sender(sandbox, client)
            let first = try await sender.send(Self.email, idempotencyKey: "outbox-42")
            let second = try await sender.send(Self.email, idempotencyKey: "outbox-42")
            #expect(first.providerMessageID == second.providerMessageID)
            #expect(sandbox.log.all.count == 1)
            #expect(sandbox.log.all.first?.idempotencyKey == "outbox-42")
        }
    }
}
