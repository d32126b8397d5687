import AsyncHTTPClient
import KauriCore
import KauriMessaging
import KauriSandbox
import Testing

/// One SMS adapter, as the scenario table sees it.
struct SmsProviderCase: Sendable, CustomTestStringConvertible {
    /// The sandbox's name for the provider.
    var provider: SandboxProvider
    /// The sender id, number or service the adapter is configured with, as the simulator records it.
    var sender: String
    /// Builds the adapter against `baseURL` with `credentials`.
    var make: @Sendable (_ baseURL: String, _ credentials: SandboxCredentials, _ client: HTTPClient,
        _ timeout: Duration) throws -> any SmsSender
    /// The recipient as the provider sees it on the wire.
    var recipientOnWire: @Sendable (String) -> String

    var testDescription: String { self.provider.rawValue }

    static let hubtel = SmsProviderCase(
        provider: .hubtel, sender: "Kauri",
        make: { baseURL, credentials, client, timeout in
            HubtelSmsSender(
                configuration: try .init(
                    clientID: credentials.hubtelClientID, clientSecret: Secret(credentials.hubtelClientSecret),
                    senderID: "Kauri", baseURL: baseURL),
                httpClient: client, requestTimeout: timeout, logger: SandboxHarness.quietLogger)
        },
        recipientOnWire: { String($0.dropFirst()) })

    static let twilio = SmsProviderCase(
        provider: .twilio, sender: "+15005550006",
        make: { baseURL, credentials, client, timeout in
            TwilioSmsSender(
                configuration: try .init(
                    accountSID: credentials.twilioAccountSID, authToken: Secret(credentials.twilioAuthToken),
                    sender: .from("+15005550006"), baseURL: baseURL),
                httpClient: client, requestTimeout: timeout, logger: SandboxHarness.quietLogger)
        },
        recipientOnWire: { $0 })

    static let africasTalking = SmsProviderCase(
        provider: .africasTalking, sender: "KAURI",
        make: { baseURL, credentials, client, timeout in
            AfricasTalkingSmsSender(
                configuration: try .init(
                    username: credentials.africasTalkingUsername, apiKey: Secret(credentials.africasTalkingAPIKey),
                    senderID: "KAURI", baseURL: baseURL),
                httpClient: client, requestTimeout: timeout, logger: SandboxHarness.quietLogger)
        },
        recipientOnWire: { $0 })

    static let all: [SmsProviderCase] = [.hubtel, .twilio, .africasTalking]
}

/// An HTTP status a simulator is told to answer, and how the adapter must classify it.
struct HTTPFault: Sendable, CustomTestStringConvertible {
    var status: Int
    var kind: DeliveryError.Kind

    var testDescription: String { "HTTP \(self.status) → \(self.kind.rawValue)" }

    static let all: [HTTPFault] = [
        HTTPFault(status: 500, kind: .retryable), HTTPFault(status: 503, kind: .retryable),
        HTTPFault(status: 429, kind: .retryable), HTTPFault(status: 408, kind: .retryable),
        HTTPFault(status: 400, kind: .permanent), HTTPFault(status: 404, kind: .permanent),
    ]
}

@Suite("SMS adapters against the sandbox")
struct SmsAdapterTests {
    static let recipient = "+233241234567"

    /// Credentials that differ from the sandbox's in every secret (and user name).
    static func wrong(_ credentials: SandboxCredentials) -> SandboxCredentials {
        var wrong = credentials
        wrong.hubtelClientSecret = "wrong-hubtel-secret"
        wrong.twilioAuthToken = "wrong-twilio-token"
        wrong.africasTalkingAPIKey = "wrong-africastalking-key"
        return wrong
    }

    @Test("a message is accepted and the provider saw exactly what was sent", arguments: SmsProviderCase.all)
    func accepted(_ provider: SmsProviderCase) async throws {
        try await SandboxHarness.run { sandbox, client in
            let sender = try provider.make(sandbox.baseURL, sandbox.credentials, client, .seconds(5))
            let receipt = try await sender.send(SmsMessage(to: Self.recipient, body: "Your Kauri code is 493021"))
            let recorded = sandbox.log.all
            try #require(recorded.count == 1)
            #expect(recorded[0].provider == provider.provider)
            #expect(recorded[0].to == provider.recipientOnWire(Self.recipient))
            #expect(recorded[0].from == provider.sender)
            #expect(recorded[0].body == "Your Kauri code is 493021")
            #expect(receipt.provider == sender.providerName)
            #expect(receipt.provider == provider.provider.rawValue)
            #expect(receipt.providerMessageID == recorded[0].providerMessageID)
        }
    }

    @Test("wrong credentials are permanent and the secret stays out of the error", arguments: SmsProviderCase.all)
    func wrongCredentials(_ provider: SmsProviderCase) async throws {
        try await SandboxHarness.run { sandbox, client in
            let credentials = Self.wrong(sandbox.credentials)
            let sender = try provider.make(sandbox.baseURL, credentials, client, .seconds(5))
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(SmsMessage(to: Self.recipient, body: "hello"))
            }
            #expect(error?.kind == .permanent)
            #expect(error?.detail.contains("401") == true)
            let secrets = [
                credentials.hubtelClientSecret, credentials.twilioAuthToken, credentials.africasTalkingAPIKey,
            ]
            for secret in secrets {
                #expect(error?.detail.contains(secret) == false)
            }
            #expect(sandbox.log.all.isEmpty)
        }
    }

    @Test(
        "injected HTTP failures are classified: 408, 429 and 5xx retryable, other 4xx permanent",
        arguments: SmsProviderCase.all, HTTPFault.all)
    func injectedFailure(_ provider: SmsProviderCase, _ fault: HTTPFault) async throws {
        try await SandboxHarness.run { sandbox, client in
            sandbox.faults.failNext(provider: provider.provider, status: fault.status)
            let sender = try provider.make(sandbox.baseURL, sandbox.credentials, client, .seconds(5))
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(SmsMessage(to: Self.recipient, body: "hello"))
            }
            #expect(error?.kind == fault.kind)
            #expect(error?.detail.contains("\(fault.status)") == true)
            #expect(sandbox.log.all.isEmpty)
            // The fault is used up: the next send goes through.
            _ = try await sender.send(SmsMessage(to: Self.recipient, body: "hello again"))
            #expect(sandbox.log.all.map(\.body) == ["hello again"])
        }
    }

    @Test("a request that outlives its timeout is retryable", arguments: SmsProviderCase.all)
    func timeout(_ provider: SmsProviderCase) async throws {
        try await SandboxHarness.run { sandbox, client in
            sandbox.faults.delayNext(provider: provider.provider, by: .seconds(2))
            let sender = try provider.make(sandbox.baseURL, sandbox.credentials, client, .milliseconds(300))
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(SmsMessage(to: Self.recipient, body: "hello"))
            }
            #expect(error?.kind == .retryable)
        }
    }

    @Test("a recipient the provider refuses is permanent", arguments: SmsProviderCase.all)
    func refusedRecipient(_ provider: SmsProviderCase) async throws {
        try await SandboxHarness.run { sandbox, client in
            sandbox.faults.rejectRecipient(Self.recipient)
            let sender = try provider.make(sandbox.baseURL, sandbox.credentials, client, .seconds(5))
            let error = await #expect(throws: DeliveryError.self) {
                try await sender.send(SmsMessage(to: Self.recipient, body: "hello"))
            }
            #expect(error?.kind == .permanent)
            #expect(sandbox.log.all.isEmpty)
        }
    }

    @Test("a recipient that is not E.164 is permanent without a request", arguments: SmsProviderCase.all)
    func notE164(_ provider: SmsProviderCase) async throws {
        try await SandboxHarness.run { sandbox, client in
            let sender = try provider.make(sandbox.baseURL, sandbox.credentials, client, .seconds(5))
            for recipient in ["0241234567", "+233 24 123 4567", "+23324123456789012", ""] {
                let error = await #expect(throws: DeliveryError.self) {
                    try await sender.send(SmsMessage(to: recipient, body: "hello"))
                }
                #expect(error?.kind == .permanent)
            }
            #expect(sandbox.log.all.isEmpty)
        }
    }

    @Test("an unreachable provider is retryable", arguments: SmsProviderCase.all)
    func unreachable(_ provider: SmsProviderCase) async throws {
        // Nothing listens on port 1 on loopback: the connection is refused. (Starting a sandbox and stopping it
        // at once raced the server's teardown with this very connection and crashed the test process in NIO.)
        let baseURL = "http://127.0.0.1:1"
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let sender = try provider.make(baseURL, SandboxCredentials(), client, .seconds(1))
        let error = await #expect(throws: DeliveryError.self) {
            try await sender.send(SmsMessage(to: Self.recipient, body: "hello"))
        }
        #expect(error?.kind == .retryable)
        try await client.shutdown()
    }

    @Test("form bodies round-trip reserved and non-ASCII characters exactly", arguments: [
        SmsProviderCase.twilio, .africasTalking,
    ])
    func formEncoding(_ provider: SmsProviderCase) async throws {
        let text = "a&b=c+d e%20f 100% ?x=1;y/z #tag \"q\" ümlaut café ✓ 😀 ₵5.00\nline two\r\nthree"
        try await SandboxHarness.run { sandbox, client in
            let sender = try provider.make(sandbox.baseURL, sandbox.credentials, client, .seconds(5))
            _ = try await sender.send(SmsMessage(to: Self.recipient, body: text))
            #expect(sandbox.log.all.map(\.body) == [text])
        }
    }

    @Test("Hubtel's JSON body round-trips non-ASCII text exactly")
    func hubtelJSON() async throws {
        let text = "Akwaaba! \"quoted\" \\ back/slash ✓ 😀 ₵5.00\nline two"
        try await SandboxHarness.run { sandbox, client in
            let sender = try SmsProviderCase.hubtel.make(sandbox.baseURL, sandbox.credentials, client, .seconds(5))
            _ = try await sender.send(SmsMessage(to: Self.recipient, body: text))
            #expect(sandbox.log.all.map(\.body) == [text])
        }
    }

    @Test("Twilio sends through a messaging service when configured with one")
    func twilioMessagingService() async throws {
        try await SandboxHarness.run { sandbox, client in
            let sender = TwilioSmsSender(
                configuration: try .init(
                    accountSID: sandbox.credentials.twilioAccountSID,
                    authToken: Secret(sandbox.credentials.twilioAuthToken),
                    sender: .messagingService(sid: "MG00000000000000000000000000000000"),
                    baseURL: sandbox.baseURL + "/"),
                httpClient: client, logger: SandboxHarness.quietLogger)
            let receipt = try await sender.send(SmsMessage(to: Self.recipient, body: "hello"))
            #expect(receipt.providerMessageID?.hasPrefix("SM") == true)
            #expect(sandbox.log.all.map(\.from) == ["MG00000000000000000000000000000000"])
        }
    }
}

@Suite("SMS adapter configuration")
struct SmsConfigurationTests {
    @Test("Hubtel sender ids longer than 11 characters are refused")
    func hubtelSenderID() throws {
        #expect(throws: MessagingConfigurationError.self) {
            try HubtelSmsSender.Configuration(clientID: "id", clientSecret: Secret("s"), senderID: "TwelveChars!")
        }
        #expect(throws: MessagingConfigurationError.self) {
            try HubtelSmsSender.Configuration(clientID: "id", clientSecret: Secret("s"), senderID: "")
        }
        let configuration = try HubtelSmsSender.Configuration(
            clientID: "id", clientSecret: Secret("s"), senderID: "ElevenChars")
        #expect(configuration.baseURL == "https://sms.hubtel.com")
    }

    @Test("Africa's Talking uses its sandbox host for the username sandbox")
    func africasTalkingBaseURL() throws {
        let sandbox = try AfricasTalkingSmsSender.Configuration(username: "sandbox", apiKey: Secret("k"))
        #expect(sandbox.baseURL == "https://api.sandbox.africastalking.com")
        let live = try AfricasTalkingSmsSender.Configuration(username: "kauri", apiKey: Secret("k"))
        #expect(live.baseURL == "https://api.africastalking.com")
    }

    @Test("Twilio needs a sender")
    func twilioSender() {
        #expect(throws: MessagingConfigurationError.self) {
            try TwilioSmsSender.Configuration(accountSID: "AC1", authToken: Secret("t"), sender: .from(""))
        }
    }

    @Test("secrets in configurations print as ***")
    func secretsHidden() throws {
        let configuration = try HubtelSmsSender.Configuration(
            clientID: "id", clientSecret: Secret("very-secret"), senderID: "Kauri")
        #expect(!String(describing: configuration).contains("very-secret"))
        #expect(!String(reflecting: configuration).contains("very-secret"))
    }
}
