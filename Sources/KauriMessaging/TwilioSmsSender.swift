import AsyncHTTPClient
import KauriCore
import Logging

/// Sends text messages through Twilio's Messages API.
///
/// `POST {baseURL}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic authentication (account SID
/// and auth token) and a form body `To`, `From` or `MessagingServiceSid`, `Body`. Twilio accepts the message
/// with 201 and names it by `sid`; refusals carry `{"code", "message"}`.
public struct TwilioSmsSender: SmsSender {
    /// Who the message comes from.
    public enum Sender: Sendable, Hashable {
        /// A Twilio number in E.164 or an alphanumeric sender id.
        case from(String)
        /// A messaging service, which picks the number itself.
        case messagingService(sid: String)
    }

    /// Account and sender settings.
    public struct Configuration: Sendable {
        /// The account SID (`AC…`), also the Basic authentication user.
        public var accountSID: String
        /// The auth token.
        public var authToken: Secret<String>
        /// The sending number, sender id or messaging service.
        public var sender: Sender
        /// The API root, without a trailing slash.
        public var baseURL: String

        /// A configuration.
        /// - Throws: `MessagingConfigurationError` when the account SID or the sender is empty.
        public init(
            accountSID: String,
            authToken: Secret<String>,
            sender: Sender,
            baseURL: String = "https://api.twilio.com"
        ) throws(MessagingConfigurationError) {
            guard !accountSID.isEmpty else {
                throw MessagingConfigurationError(field: "accountSID", reason: "must not be empty")
            }
            switch sender {
            case .from(let from) where from.isEmpty:
                throw MessagingConfigurationError(field: "from", reason: "must not be empty")
            case .messagingService(let sid) where sid.isEmpty:
                throw MessagingConfigurationError(field: "messagingServiceSID", reason: "must not be empty")
            default:
                break
            }
            self.accountSID = accountSID
            self.authToken = authToken
            self.sender = sender
            self.baseURL = baseURL.trimmingSuffix("/")
        }
    }

    public var providerName: String { "twilio" }

    private let configuration: Configuration
    private let http: ProviderHTTPClient
    private let logger: Logger

    /// An adapter that sends through `httpClient`, which the caller owns and shuts down.
    /// - Parameter requestTimeout: The deadline for one request, connection included.
    public init(
        configuration: Configuration,
        httpClient: HTTPClient,
        requestTimeout: Duration = .seconds(15),
        logger: Logger = Logger(label: "kauri.messaging.twilio")
    ) {
        self.configuration = configuration
        self.http = ProviderHTTPClient(
            provider: "twilio", httpClient: httpClient, requestTimeout: requestTimeout,
            secrets: [configuration.authToken.value])
        self.logger = logger
    }

    public func send(_ message: SmsMessage) async throws -> DeliveryReceipt {
        guard E164Recipient.digits(of: message.to) != nil else {
            throw self.http.permanent("the recipient is not an E.164 number")
        }
        var fields: [(name: String, value: String)] = [("To", message.to)]
        switch self.configuration.sender {
        case .from(let from): fields.append(("From", from))
        case .messagingService(let sid): fields.append(("MessagingServiceSid", sid))
        }
        fields.append(("Body", message.body))
        let accountPath = FormURLEncoding.percentEncode(self.configuration.accountSID)
        let response = try await self.http.post(
            url: "\(self.configuration.baseURL)/2010-04-01/Accounts/\(accountPath)/Messages.json",
            headers: [
                ("Authorization", ProviderHTTPClient.basicAuthorization(
                    user: self.configuration.accountSID, password: self.configuration.authToken.value)),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            body: Array(FormURLEncoding.encode(fields).utf8))
        guard response.hasStatus(in: [200, 201]) else {
            throw self.http.failure(response, reason: self.http.decode(ErrorResponse.self, from: response)?.reason)
        }
        guard let answer = self.http.decode(MessageResponse.self, from: response) else {
            throw self.http.unreadable(response)
        }
        self.logger.debug(
            "sms accepted", metadata: ["messaging.provider": "twilio", "messaging.message_id": "\(answer.sid)"])
        return DeliveryReceipt(provider: self.providerName, providerMessageID: answer.sid)
    }

    /// The parts of Twilio's message resource the adapter reads.
    private struct MessageResponse: Decodable {
        var sid: String
    }

    /// Twilio's error body.
    private struct ErrorResponse: Decodable {
        var code: Int?
        var message: String

        var reason: String { self.code.map { "error \($0): \(self.message)" } ?? self.message }
    }
}
