import AsyncHTTPClient
import KauriCore
import Logging

/// Sends text messages through Hubtel's SMS API (Ghana).
///
/// `POST {baseURL}/v1/messages/send` with HTTP Basic authentication (client id and secret) and the JSON body
/// `{"From", "To", "Content"}`, where `To` is the number's digits without the `+`. Hubtel accepts the message
/// when it answers 200 or 201 with `status` 0, and names it by `messageId`.
public struct HubtelSmsSender: SmsSender {
    /// Account and sender settings.
    public struct Configuration: Sendable {
        /// The longest sender id Hubtel accepts.
        public static let senderIDCharacterCountMax = 11

        /// The API client id.
        public var clientID: String
        /// The API client secret.
        public var clientSecret: Secret<String>
        /// The sender id the recipient sees, at most 11 characters.
        public var senderID: String
        /// The API root, without a trailing slash.
        public var baseURL: String

        /// A configuration.
        /// - Throws: `MessagingConfigurationError` when the sender id is empty or longer than 11 characters.
        public init(
            clientID: String,
            clientSecret: Secret<String>,
            senderID: String,
            baseURL: String = "https://sms.hubtel.com"
        ) throws(MessagingConfigurationError) {
            guard !senderID.isEmpty, senderID.count <= Self.senderIDCharacterCountMax else {
                throw MessagingConfigurationError(
                    field: "senderID", reason: "must be 1 to \(Self.senderIDCharacterCountMax) characters")
            }
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.senderID = senderID
            self.baseURL = baseURL.trimmingSuffix("/")
        }
    }

    public var providerName: String { "hubtel" }

    private let configuration: Configuration
    private let http: ProviderHTTPClient
    private let logger: Logger

    /// An adapter that sends through `httpClient`, which the caller owns and shuts down.
    /// - Parameter requestTimeout: The deadline for one request, connection included.
    public init(
        configuration: Configuration,
        httpClient: HTTPClient,
        requestTimeout: Duration = .seconds(15),
        logger: Logger = Logger(label: "kauri.messaging.hubtel")
    ) {
        self.configuration = configuration
        self.http = ProviderHTTPClient(
            provider: "hubtel", httpClient: httpClient, requestTimeout: requestTimeout,
            secrets: [configuration.clientSecret.value])
        self.logger = logger
    }

    public func send(_ message: SmsMessage) async throws -> DeliveryReceipt {
        guard let digits = E164Recipient.digits(of: message.to) else {
            throw self.http.permanent("the recipient is not an E.164 number")
        }
        let request = SendRequest(from: self.configuration.senderID, to: digits, content: message.body)
        let response = try await self.http.post(
            url: self.configuration.baseURL + "/v1/messages/send",
            headers: [
                ("Authorization", ProviderHTTPClient.basicAuthorization(
                    user: self.configuration.clientID, password: self.configuration.clientSecret.value)),
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            body: try JSONCoding.encode(request))
        let answer = self.http.decode(SendResponse.self, from: response)
        guard response.hasStatus(in: [200, 201]) else {
            throw self.http.failure(response, reason: answer?.reason)
        }
        guard let answer, let status = answer.status else { throw self.http.unreadable(response) }
        guard status == 0 else {
            throw self.http.permanent("status \(status): \(answer.statusDescription ?? "refused")")
        }
        self.logger.debug(
            "sms accepted",
            metadata: ["messaging.provider": "hubtel", "messaging.message_id": "\(answer.messageId ?? "-")"])
        return DeliveryReceipt(provider: self.providerName, providerMessageID: answer.messageId)
    }

    /// Hubtel's send body.
    private struct SendRequest: Encodable {
        var from: String
        var to: String
        var content: String

        enum CodingKeys: String, CodingKey {
            case from = "From"
            case to = "To"
            case content = "Content"
        }
    }

    /// Hubtel's answer, success or error; every field is optional because error bodies vary.
    private struct SendResponse: Decodable {
        var messageId: String?
        var status: Int?
        var statusDescription: String?
        var message: String?

        var reason: String? { self.statusDescription ?? self.message }
    }
}
