import AsyncHTTPClient
import KauriCore
import Logging

/// Sends emails through Resend's API.
///
/// `POST {baseURL}/emails` with `Authorization: Bearer <api key>` and the JSON body `{"from", "to", "subject",
/// "text"}`. Resend accepts with 200 and names the email by `id`; refusals carry `{"statusCode", "name",
/// "message"}`. An idempotency key, when given, goes in the `Idempotency-Key` header so a retried send is not
/// delivered twice.
public struct ResendEmailSender: EmailSender {
    /// Account and sender settings.
    public struct Configuration: Sendable {
        /// The API key (`re_…`).
        public var apiKey: Secret<String>
        /// The sender, an address or `Name <address>` on a domain verified with Resend.
        public var from: String
        /// The API root, without a trailing slash.
        public var baseURL: String

        /// A configuration.
        /// - Throws: `MessagingConfigurationError` when the sender has no `@`.
        public init(
            apiKey: Secret<String>,
            from: String,
            baseURL: String = "https://api.resend.com"
        ) throws(MessagingConfigurationError) {
            guard from.contains("@") else {
                throw MessagingConfigurationError(field: "from", reason: "must be an email address")
            }
            self.apiKey = apiKey
            self.from = from
            self.baseURL = baseURL.trimmingSuffix("/")
        }
    }

    public var providerName: String { "resend" }

    private let configuration: Configuration
    private let http: ProviderHTTPClient
    private let logger: Logger

    /// An adapter that sends through `httpClient`, which the caller owns and shuts down.
    /// - Parameter requestTimeout: The deadline for one request, connection included.
    public init(
        configuration: Configuration,
        httpClient: HTTPClient,
        requestTimeout: Duration = .seconds(15),
        logger: Logger = Logger(label: "kauri.messaging.resend")
    ) {
        self.configuration = configuration
        self.http = ProviderHTTPClient(
            provider: "resend", httpClient: httpClient, requestTimeout: requestTimeout,
            secrets: [configuration.apiKey.value])
        self.logger = logger
    }

    public func send(_ message: EmailMessage) async throws -> DeliveryReceipt {
        try await self.send(message, idempotencyKey: nil)
    }

    /// Hands `message` to Resend; a retry with the same `idempotencyKey` returns the first send's receipt.
    /// - Throws: `DeliveryError`.
    public func send(_ message: EmailMessage, idempotencyKey: String?) async throws -> DeliveryReceipt {
        let request = SendRequest(
            from: self.configuration.from, to: [message.to], subject: message.subject, text: message.text)
        var headers: [(name: String, value: String)] = [
            ("Authorization", "Bearer \(self.configuration.apiKey.value)"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]
        if let idempotencyKey {
            headers.append(("Idempotency-Key", idempotencyKey))
        }
        let response = try await self.http.post(
            url: self.configuration.baseURL + "/emails", headers: headers, body: try JSONCoding.encode(request))
        guard response.status == 200 || response.status == 201 else {
            throw self.http.failure(response, reason: self.http.decode(ErrorResponse.self, from: response)?.reason)
        }
        guard let answer = self.http.decode(SendResponse.self, from: response) else {
            throw self.http.unreadable(response)
        }
        self.logger.debug(
            "email accepted", metadata: ["messaging.provider": "resend", "messaging.message_id": "\(answer.id)"])
        return DeliveryReceipt(provider: self.providerName, providerMessageID: answer.id)
    }

    /// Resend's send body.
    private struct SendRequest: Encodable {
        var from: String
        var to: [String]
        var subject: String
        var text: String
    }

    /// Resend's answer to an accepted email.
    private struct SendResponse: Decodable {
        var id: String
    }

    /// Resend's error body.
    private struct ErrorResponse: Decodable {
        var name: String?
        var message: String

        var reason: String { self.name.map { "\($0): \(self.message)" } ?? self.message }
    }
}
