import Foundation
import KauriCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Sends emails to an SMTP server (RFC 5321) over SwiftNIO: one connection per message.
///
/// The conversation: 220 greeting, `EHLO`, `STARTTLS` and `EHLO` again when so configured, `AUTH PLAIN` (or
/// `AUTH LOGIN`) when credentials are configured, `MAIL FROM`, `RCPT TO`, `DATA` with a quoted-printable UTF-8
/// plain-text message, `QUIT`. 4xx replies, timeouts and network errors are retryable; 5xx replies are
/// permanent, and so is a server that cannot be used safely as configured (no STARTTLS when it is required).
/// Credentials are only sent over TLS unless `allowInsecureAuth` says otherwise, and never logged.
///
/// The receipt's `providerMessageID` is the `Message-ID` header the sender generated, angle brackets included.
public struct SMTPEmailSender: EmailSender {
    /// How the connection is encrypted.
    public enum TLSMode: String, Sendable, Hashable {
        /// Connect in plain text, then upgrade with STARTTLS; fail if the server does not offer it (port 587).
        case startTLS
        /// TLS from the first byte (port 465).
        case implicitTLS
        /// No encryption at all, for a local development server (port 25).
        case none
    }

    /// Which certificate authorities the sender trusts.
    public enum TrustRoots: Sendable, Hashable {
        /// The operating system's trust store.
        case system
        /// The certificates in a PEM file, e.g. a test server's self-signed certificate.
        case pemFile(path: String)
    }

    /// An SMTP account.
    public struct Credentials: Sendable {
        /// The user name.
        public var username: String
        /// The password.
        public var password: Secret<String>

        /// Credentials.
        public init(username: String, password: Secret<String>) {
            self.username = username
            self.password = password
        }
    }

    /// Server, encryption, account and sender settings.
    public struct Configuration: Sendable {
        /// The server's host name or IP address.
        public var host: String
        /// The server's port.
        public var port: Int
        /// How the connection is encrypted.
        public var tls: TLSMode
        /// Which certificate authorities to trust.
        public var trustRoots: TrustRoots
        /// The name checked against the server's certificate and sent in SNI; `host` when `nil`. When the name
        /// is an IP address the certificate must list that address.
        public var serverHostname: String?
        /// The account, when the server wants authentication.
        public var credentials: Credentials?
        /// Whether credentials may be sent without encryption. Only for a local development server.
        public var allowInsecureAuth: Bool
        /// The sender's address, in `MAIL FROM` and the `From` header.
        public var fromAddress: String
        /// The sender's display name in the `From` header.
        public var fromName: String?
        /// The name the client gives in `EHLO`.
        public var ehloName: String
        /// The longest wait for the TCP connection.
        public var connectTimeout: Duration
        /// The longest wait for any one reply.
        public var replyTimeout: Duration

        /// A configuration.
        /// - Parameters:
        ///   - port: By default 587 for `.startTLS`, 465 for `.implicitTLS`, 25 for `.none`.
        ///   - ehloName: By default the domain of `fromAddress`.
        /// - Throws: `MessagingConfigurationError` for an empty host, a port out of range, or a sender address
        ///   or EHLO name that could corrupt the conversation.
        public init(
            host: String,
            port: Int? = nil,
            tls: TLSMode = .startTLS,
            trustRoots: TrustRoots = .system,
            serverHostname: String? = nil,
            credentials: Credentials? = nil,
            allowInsecureAuth: Bool = false,
            fromAddress: String,
            fromName: String? = nil,
            ehloName: String? = nil,
            connectTimeout: Duration = .seconds(30),
            replyTimeout: Duration = .seconds(30)
        ) throws(MessagingConfigurationError) {
            guard !host.isEmpty else { throw MessagingConfigurationError(field: "host", reason: "must not be empty") }
            let resolvedPort = port ?? Self.defaultPort(for: tls)
            guard (1...65_535).contains(resolvedPort) else {
                throw MessagingConfigurationError(field: "port", reason: "must be 1 to 65535")
            }
            guard let address = SMTPAddress.bare(fromAddress), address == fromAddress else {
                throw MessagingConfigurationError(field: "fromAddress", reason: "must be a bare ASCII address")
            }
            let resolvedEHLOName = ehloName ?? SMTPAddress.domain(of: address)
            guard !resolvedEHLOName.isEmpty, resolvedEHLOName.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw MessagingConfigurationError(field: "ehloName", reason: "must be printable ASCII without spaces")
            }
            if let credentials, credentials.username.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
                throw MessagingConfigurationError(field: "username", reason: "must not contain control characters")
            }
            self.host = host
            self.port = resolvedPort
            self.tls = tls
            self.trustRoots = trustRoots
            self.serverHostname = serverHostname
            self.credentials = credentials
            self.allowInsecureAuth = allowInsecureAuth
            self.fromAddress = address
            self.fromName = fromName
            self.ehloName = resolvedEHLOName
            self.connectTimeout = connectTimeout
            self.replyTimeout = replyTimeout
        }

        /// The usual port for a TLS mode.
        public static func defaultPort(for tls: TLSMode) -> Int {
            switch tls {
            case .startTLS: 587
            case .implicitTLS: 465
            case .none: 25
            }
        }
    }

    public var providerName: String { "smtp" }

    private let configuration: Configuration
    private let tls: SMTPTLS?
    private let eventLoopGroup: any EventLoopGroup
    private let clock: any WallClock
    private let logger: Logger

    /// A sender. The TLS context (and the trust roots it loads) is made here, once.
    /// - Throws: `MessagingConfigurationError` when the trust roots cannot be loaded.
    public init(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: any WallClock = SystemClock(),
        logger: Logger = Logger(label: "kauri.messaging.smtp")
    ) throws(MessagingConfigurationError) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.clock = clock
        self.logger = logger
        guard configuration.tls != .none else {
            self.tls = nil
            return
        }
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.minimumTLSVersion = .tlsv12
        switch configuration.trustRoots {
        case .system: tlsConfiguration.trustRoots = .default
        case .pemFile(let path): tlsConfiguration.trustRoots = .file(path)
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw MessagingConfigurationError(field: "trustRoots", reason: "cannot be loaded: \(error)")
        }
        let name = configuration.serverHostname ?? configuration.host
        let isIPAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
        self.tls = SMTPTLS(context: context, serverHostname: isIPAddress ? nil : name)
    }

    public func send(_ message: EmailMessage) async throws -> DeliveryReceipt {
        guard let recipient = SMTPAddress.bare(message.to) else {
            throw DeliveryError(.permanent, "smtp: the recipient is not a valid address")
        }
        let messageID = "<\(UUID().uuidString.lowercased())@\(SMTPAddress.domain(of: self.configuration.fromAddress))>"
        let payload = SMTPMessageFormat.render(
            fromAddress: self.configuration.fromAddress, fromName: self.configuration.fromName, to: recipient,
            subject: message.subject, text: message.text, date: self.clock.now(), messageID: messageID)
        let endpoint = SMTPConnection.Endpoint(
            host: self.configuration.host, port: self.configuration.port,
            connectTimeout: self.configuration.connectTimeout, replyTimeout: self.configuration.replyTimeout,
            implicitTLS: self.configuration.tls == .implicitTLS ? self.tls : nil)
        do {
            try await SMTPConnection.withConnection(to: endpoint, on: self.eventLoopGroup) { connection in
                try await self.converse(on: &connection, recipient: recipient, payload: payload)
            }
        } catch {
            let deliveryError = Self.deliveryError(for: error)
            self.logger.debug(
                "email not accepted",
                metadata: ["messaging.provider": "smtp", "messaging.error": "\(deliveryError)"])
            throw deliveryError
        }
        self.logger.debug(
            "email accepted", metadata: ["messaging.provider": "smtp", "messaging.message_id": "\(messageID)"])
        return DeliveryReceipt(provider: self.providerName, providerMessageID: messageID)
    }

    /// One message's conversation, from the greeting to QUIT.
    private func converse(on connection: inout SMTPConnection, recipient: String, payload: [UInt8]) async throws {
        try await Self.expect([220], "greeting", connection.readReply())
        var ehlo = try await Self.expect([250], "EHLO", connection.command("EHLO \(self.configuration.ehloName)"))
        if self.configuration.tls == .startTLS, let tls = self.tls {
            guard ehlo.ehloKeywords.contains("STARTTLS") else { throw SMTPSessionError.startTLSNotOffered }
            try await Self.expect([220], "STARTTLS", connection.command("STARTTLS"))
            try await connection.startTLS(tls)
            ehlo = try await Self.expect([250], "EHLO", connection.command("EHLO \(self.configuration.ehloName)"))
        }
        if let credentials = self.configuration.credentials {
            guard connection.isEncrypted || self.configuration.allowInsecureAuth else {
                throw SMTPSessionError.authenticationNeedsTLS
            }
            try await Self.authenticate(on: &connection, credentials, mechanisms: ehlo.authMechanisms)
        }
        try await Self.expect([250], "MAIL FROM", connection.command("MAIL FROM:<\(self.configuration.fromAddress)>"))
        try await Self.expect([250, 251], "RCPT TO", connection.command("RCPT TO:<\(recipient)>"))
        try await Self.expect([354], "DATA", connection.command("DATA"))
        try await Self.expect([250], "end of data", connection.send(payload))
        // The server has taken the message; a failed goodbye changes nothing.
        _ = try? await connection.command("QUIT")
    }

    /// AUTH PLAIN when offered, else AUTH LOGIN. The command lines carrying secrets never reach an error detail.
    private static func authenticate(
        on connection: inout SMTPConnection, _ credentials: Credentials, mechanisms: Set<String>
    ) async throws {
        let username = credentials.username
        let password = credentials.password.value
        if mechanisms.contains("PLAIN") {
            let token = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
            try await Self.expect([235], "AUTH PLAIN", connection.command("AUTH PLAIN \(token)"))
        } else if mechanisms.contains("LOGIN") {
            try await Self.expect([334], "AUTH LOGIN", connection.command("AUTH LOGIN"))
            try await Self.expect([334], "AUTH LOGIN", connection.command(Data(username.utf8).base64EncodedString()))
            try await Self.expect([235], "AUTH LOGIN", connection.command(Data(password.utf8).base64EncodedString()))
        } else {
            throw SMTPSessionError.authenticationNotOffered
        }
    }

    /// `reply` when its code is one of `codes`.
    /// - Throws: `SMTPSessionError.rejected` naming `step` otherwise.
    @discardableResult
    private static func expect(_ codes: Set<Int>, _ step: String, _ reply: SMTPReply) throws -> SMTPReply {
        guard codes.contains(reply.code) else { throw SMTPSessionError.rejected(step: step, reply: reply) }
        return reply
    }

    /// The outbox's view of any failure: session errors keep their own kind, everything else (connection
    /// refused, TLS handshake, I/O) is retryable.
    private static func deliveryError(for error: any Error) -> DeliveryError {
        switch error {
        case let error as DeliveryError: error
        case let error as SMTPSessionError: DeliveryError(error.kind, "smtp: \(error)")
        default: DeliveryError(.retryable, "smtp: \(error)")
        }
    }
}
