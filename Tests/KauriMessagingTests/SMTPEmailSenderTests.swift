import Foundation
import KauriCore
import KauriMessaging
import Testing

@Suite("SMTP sender against a real SMTP server (aiosmtpd)")
struct SMTPEmailSenderTests {
    static let text = """
        Hello Ama,
        .a line that starts with a dot
        .
        Total: ₵120.00 = 2 × ₵60.00, trailing spaces here   
        A very long line that goes on and on well past the seventy-six characters quoted-printable allows per line, \
        so it must be soft-broken and joined again by the reader without losing a single character: done.
        À bientôt 😀
        """

    static func configuration(
        _ server: SMTPTestServer,
        password: String? = nil,
        tls: SMTPEmailSender.TLSMode = .startTLS,
        trustRoots: SMTPEmailSender.TrustRoots? = nil,
        allowInsecureAuth: Bool = false,
        replyTimeout: Duration = .seconds(10)
    ) throws -> SMTPEmailSender.Configuration {
        try SMTPEmailSender.Configuration(
            host: "127.0.0.1", port: server.port, tls: tls,
            trustRoots: trustRoots ?? .pemFile(path: server.caPath), serverHostname: "localhost",
            credentials: .init(username: server.username, password: Secret(password ?? server.password)),
            allowInsecureAuth: allowInsecureAuth, fromAddress: "receipts@kauri.example", fromName: "Kauri Pay",
            replyTimeout: replyTimeout)
    }

    static func sender(_ configuration: SMTPEmailSender.Configuration) throws -> SMTPEmailSender {
        try SMTPEmailSender(configuration: configuration, logger: SandboxHarness.quietLogger)
    }

    static func normalized(_ text: String) -> String {
        var normalized = text.replacingOccurrences(of: "\r\n", with: "\n")
        while normalized.hasSuffix("\n") { normalized.removeLast() }
        return normalized
    }

    @Test("an email goes through STARTTLS and AUTH and arrives intact")
    func delivered() async throws {
        try await SMTPTestServer.with { server in
            let subject = "Your Kauri receipt — ₵120.00 ✓ for order #42, with a tail long enough to need folding"
            let sender = try Self.sender(try Self.configuration(server))
            let receipt = try await sender.send(EmailMessage(to: "ama@example.com", subject: subject, text: Self.text))

            let messages = try server.messages()
            try #require(messages.count == 1)
            let message = messages[0]
            #expect(message.tls)
            #expect(message.authenticated)
            #expect(message.mailFrom == "receipts@kauri.example")
            #expect(message.rcptTos == ["ama@example.com"])
            #expect(message.from == "Kauri Pay <receipts@kauri.example>")
            #expect(message.to == "ama@example.com")
            #expect(message.subject == subject)
            #expect(message.dateValid)
            #expect(message.mimeVersion == "1.0")
            #expect(message.contentType == "text/plain")
            #expect(message.charset == "utf-8")
            #expect(message.transferEncoding == "quoted-printable")
            #expect(message.defects.isEmpty)
            #expect(Self.normalized(message.text) == Self.normalized(Self.text))
            #expect(receipt.provider == "smtp")
            #expect(receipt.providerMessageID == message.messageId)
            #expect(message.messageId.hasSuffix("@kauri.example>"))
            // Every line ends in CRLF and stays within the 78-character recommendation.
            #expect(!message.raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
            for line in message.raw.components(separatedBy: "\r\n") {
                #expect(line.utf8.count <= 78, "line too long: \(line)")
            }
            let attempts = try server.authAttempts()
            #expect(attempts.count == 1)
            #expect(attempts.first?.tls == true)
            #expect(attempts.first?.success == true)
        }
    }

    @Test("a wrong password is permanent and stays out of the error")
    func wrongPassword() async throws {
        try await SMTPTestServer.with { server in
            let sender = try Self.sender(try Self.configuration(server, password: "not-the-password"))
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(EmailMessage(to: "ama@example.com", subject: "Hi", text: "Hello"))
            }
            #expect(error?.kind == .permanent)
            #expect(error?.detail.contains("535") == true)
            #expect(error?.detail.contains("not-the-password") == false)
            #expect(try server.messages().isEmpty)
        }
    }

    @Test("a server without STARTTLS is refused before any credentials are sent")
    func startTLSMissing() async throws {
        try await SMTPTestServer.with(startTLS: false) { server in
            let sender = try Self.sender(try Self.configuration(server))
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(EmailMessage(to: "ama@example.com", subject: "Hi", text: "Hello"))
            }
            #expect(error?.kind == .permanent)
            #expect(error?.detail.contains("STARTTLS") == true)
            #expect(try server.authAttempts().isEmpty)
            #expect(try server.messages().isEmpty)
        }
    }

    @Test("without TLS, credentials are sent only when insecure authentication is allowed")
    func plainText() async throws {
        try await SMTPTestServer.with(startTLS: false) { server in
            let refusing = try Self.sender(try Self.configuration(server, tls: .none))
            let error = await #expect(throws: DeliveryError.self) {
                try await refusing.send(EmailMessage(to: "ama@example.com", subject: "Hi", text: "Hello"))
            }
            #expect(error?.kind == .permanent)
            #expect(try server.authAttempts().isEmpty)

            let allowing = try Self.sender(try Self.configuration(server, tls: .none, allowInsecureAuth: true))
            _ = try await allowing.send(EmailMessage(to: "ama@example.com", subject: "Hi", text: "Hello"))
            let messages = try server.messages()
            #expect(messages.count == 1)
            #expect(messages.first?.tls == false)
            #expect(messages.first?.authenticated == true)
        }
    }

    @Test("a server certificate from an untrusted CA fails before any credentials are sent")
    func untrustedCertificate() async throws {
        try await SMTPTestServer.with { server in
            let sender = try Self.sender(try Self.configuration(server, trustRoots: .system))
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(EmailMessage(to: "ama@example.com", subject: "Hi", text: "Hello"))
            }
            #expect(error?.kind == .retryable)
            #expect(try server.authAttempts().isEmpty)
            #expect(try server.messages().isEmpty)
        }
    }

    @Test("4xx replies are retryable and 5xx replies permanent")
    func replyClassification() async throws {
        try await SMTPTestServer.with { server in
            let sender = try Self.sender(try Self.configuration(server))
            let temporary = await #expect(throws: DeliveryError.self) {
                try await sender.send(EmailMessage(to: "tempfail@example.com", subject: "Hi", text: "Hello"))
            }
            #expect(temporary?.kind == .retryable)
            #expect(temporary?.detail.contains("451") == true)
            let rejected = await #expect(throws: DeliveryError.self) {
                try await sender.send(EmailMessage(to: "reject@example.com", subject: "Hi", text: "Hello"))
            }
            #expect(rejected?.kind == .permanent)
            #expect(rejected?.detail.contains("550") == true)
            #expect(try server.messages().isEmpty)
        }
    }

    @Test("a reply that does not come in time is retryable")
    func replyTimeout() async throws {
        try await SMTPTestServer.with { server in
            let sender = try Self.sender(try Self.configuration(server, replyTimeout: .milliseconds(700)))
            let started = ContinuousClock.now
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(EmailMessage(to: "slow@example.com", subject: "Hi", text: "Hello"))
            }
            #expect(error?.kind == .retryable)
            #expect(ContinuousClock.now - started < .seconds(8))
        }
    }

    @Test("a refused connection is retryable")
    func connectionRefused() async throws {
        let server = try await SMTPTestServer.start()
        let sender = try Self.sender(try Self.configuration(server))
        server.stop()
        let error = await #expect(throws: DeliveryError.self) {
            try await sender.send(EmailMessage(to: "ama@example.com", subject: "Hi", text: "Hi"))
        }
        #expect(error?.kind == .retryable)
    }

    @Test("configurations that cannot work are refused up front")
    func configuration() {
        #expect(throws: MessagingConfigurationError.self) {
            try SMTPEmailSender.Configuration(host: "", fromAddress: "a@kauri.example")
        }
        #expect(throws: MessagingConfigurationError.self) {
            try SMTPEmailSender.Configuration(host: "smtp.example.com", fromAddress: "a@kauri.example\r\nRCPT TO:<x@y>")
        }
        #expect(throws: MessagingConfigurationError.self) {
            try SMTPEmailSender(
                configuration: SMTPEmailSender.Configuration(
                    host: "smtp.example.com", trustRoots: .pemFile(path: "/nonexistent/ca.pem"),
                    fromAddress: "a@kauri.example"))
        }
        let defaults = try? SMTPEmailSender.Configuration(host: "smtp.example.com", fromAddress: "a@kauri.example")
        #expect(defaults?.port == 587)
        #expect(defaults?.ehloName == "kauri.example")
    }
}
