/// What went wrong in an SMTP conversation, before it is told to the outbox as a `DeliveryError`.
enum SMTPSessionError: Error, CustomStringConvertible {
    /// The server answered a step with a code other than the expected one.
    case rejected(step: String, reply: SMTPReply)
    /// TLS is configured as `.startTLS` but the server does not offer it; nothing secret was sent.
    case startTLSNotOffered
    /// Credentials are configured but the connection is not encrypted and insecure authentication is not allowed.
    case authenticationNeedsTLS
    /// Credentials are configured but the server offers neither AUTH PLAIN nor AUTH LOGIN.
    case authenticationNotOffered
    /// No reply came within the reply timeout.
    case timeout
    /// The server closed the connection in the middle of the conversation.
    case connectionClosed

    /// The most characters of a server reply kept in an error detail.
    static let replyCharacterCountMax = 300

    var description: String {
        switch self {
        case .rejected(let step, let reply):
            let text = reply.description
            let shortened = text.count > Self.replyCharacterCountMax
                ? String(text.prefix(Self.replyCharacterCountMax)) + "…" : text
            return "\(step) answered \(shortened)"
        case .startTLSNotOffered:
            return "the server does not offer STARTTLS, which the configuration requires"
        case .authenticationNeedsTLS:
            return "refusing to authenticate over an unencrypted connection"
        case .authenticationNotOffered:
            return "the server offers neither AUTH PLAIN nor AUTH LOGIN"
        case .timeout:
            return "no reply within the reply timeout"
        case .connectionClosed:
            return "the server closed the connection"
        }
    }

    /// Retryable for 4xx replies, timeouts and dropped connections; permanent for 5xx replies and for servers
    /// that cannot be used safely as configured.
    var kind: DeliveryError.Kind {
        switch self {
        case .rejected(_, let reply):
            (500..<600).contains(reply.code) ? .permanent : .retryable
        case .startTLSNotOffered, .authenticationNeedsTLS, .authenticationNotOffered:
            .permanent
        case .timeout, .connectionClosed:
            .retryable
        }
    }
}
