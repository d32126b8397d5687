import AsyncHTTPClient
import KauriCore
import Logging

/// Sends text messages through Africa's Talking's SMS API.
///
/// `POST {baseURL}/version1/messaging` with the `apiKey` header and a form body `username`, `to`, `message` and
/// optionally `from`. The answer lists one entry per recipient in `SMSMessageData.Recipients`; status codes
/// 100, 101 and 102 mean accepted, anything else (or no entry) means refused.
public struct AfricasTalkingSmsSender: SmsSender {
    /// The live API root.
    public static let liveBaseURL = "https://api.africastalking.com"
    /// The sandbox API root, used when the username is `sandbox`.
    public static let sandboxBaseURL = "https://api.sandbox.africastalking.com"
    /// The recipient status codes that mean the message was taken: processed, sent, queued.
    static let acceptedRecipientStatusCodes: Set<Int> = [100, 101, 102]

    /// Account and sender settings.
    public struct Configuration: Sendable {
        /// The application username; `sandbox` for Africa's Talking's own sandbox.
        public var username: String
        /// The API key.
        public var apiKey: Secret<String>
        /// The sender id or short code; the account default when `nil`.
        public var senderID: String?
        /// The API root, without a trailing slash.
        public var baseURL: String

        /// A configuration.
        /// - Parameter baseURL: The API root; by default the sandbox for the username `sandbox`, else live.
        /// - Throws: `MessagingConfigurationError` when the username or a given sender id is empty.
        public init(
            username: String,
            apiKey: Secret<String>,
            senderID: String? = nil,
            baseURL: String? = nil
        ) throws(MessagingConfigurationError) {
            guard !username.isEmpty else {
                throw MessagingConfigurationError(field: "username", reason: "must not be empty")
            }
            if let senderID, senderID.isEmpty {
                throw MessagingConfigurationError(field: "senderID", reason: "must not be empty when given")
            }
            self.username = username
            self.apiKey = apiKey
            self.senderID = senderID
            let defaultBaseURL = username == "sandbox" ? AfricasTalkingSmsSender.sandboxBaseURL
                : AfricasTalkingSmsSender.liveBaseURL
            self.baseURL = (baseURL ?? defaultBaseURL).trimmingSuffix("/")
        }
    }

    public var providerName: String { "africastalking" }

    private let configuration: Configuration
    private let http: ProviderHTTPClient
    private let logger: Logger

    /// An adapter that sends through `httpClient`, which the caller owns and shuts down.
    /// - Parameter requestTimeout: The deadline for one request, connection included.
    public init(
        configuration: Configuration,
        httpClient: HTTPClient,
        requestTimeout: Duration = .seconds(15),
        logger: Logger = Logger(label: "kauri.messaging.africastalking")
    ) {
        self.configuration = configuration
        self.http = ProviderHTTPClient(
            provider: "africastalking", httpClient: httpClient, requestTimeout: requestTimeout,
            secrets: [configuration.apiKey.value])
        self.logger = logger
    }

    public func send(_ message: SmsMessage) async throws -> DeliveryReceipt {
        guard E164Recipient.digits(of: message.to) != nil else {
            throw self.http.permanent("the recipient is not an E.164 number")
        }
        var fields: [(name: String, value: String)] = [
            ("username", self.configuration.username), ("to", message.to), ("message", message.body),
        ]
        if let senderID = self.configuration.senderID {
            fields.append(("from", senderID))
        }
        let response = try await self.http.post(
            url: self.configuration.baseURL + "/version1/messaging",
            headers: [
                ("apiKey", self.configuration.apiKey.value),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            body: Array(FormURLEncoding.encode(fields).utf8))
        guard response.hasStatus(in: [200, 201]) else {
            throw self.http.failure(response, reason: nil)
        }
        guard let answer = self.http.decode(SendResponse.self, from: response) else {
            throw self.http.unreadable(response)
        }
        guard let recipient = answer.smsMessageData.recipients.first else {
            throw self.http.permanent("no recipient accepted: \(answer.smsMessageData.message ?? "no reason given")")
        }
        guard Self.acceptedRecipientStatusCodes.contains(recipient.statusCode) else {
            throw self.http.permanent("recipient status \(recipient.statusCode): \(recipient.status ?? "refused")")
        }
        self.logger.debug(
            "sms accepted",
            metadata: ["messaging.provider": "africastalking", "messaging.message_id": "\(recipient.messageId ?? "-")"])
        return DeliveryReceipt(provider: self.providerName, providerMessageID: recipient.messageId)
    }

    /// Africa's Talking's answer.
    private struct SendResponse: Decodable {
        var smsMessageData: MessageData

        enum CodingKeys: String, CodingKey {
            case smsMessageData = "SMSMessageData"
        }
    }

    /// The summary and the per-recipient outcomes.
    private struct MessageData: Decodable {
        var message: String?
        var recipients: [Recipient]

        enum CodingKeys: String, CodingKey {
            case message = "Message"
            case recipients = "Recipients"
        }
    }

    /// One recipient's outcome.
    private struct Recipient: Decodable {
        var statusCode: Int
        var number: String?
        var status: String?
        var cost: String?
        var messageId: String?
    }
}
