import AsyncHTTPClient
import Foundation
import KauriCore
import KauriMessaging
import Logging

/// Builds the SMS and email senders the settings choose; nil means the dev sink (sandbox mode's default).
enum MessagingProviders {
    /// The configured SMS sender, or nil for the dev sink.
    static func sms(_ settings: MessagingSettings, logger: Logger) throws -> (any SmsSender)? {
        let provider = settings.smsProvider ?? .devSink
        func required(_ value: String?, _ setting: Setting) throws -> String {
            guard let value, !value.isEmpty else {
                throw Server.StartupError(description: "SMS provider \(provider.rawValue) needs \(setting.names)")
            }
            return value
        }
        do {
            switch provider {
            case .devSink:
                return nil
            case .hubtel:
                return HubtelSmsSender(
                    configuration: try .init(
                        clientID: try required(settings.smsUsername, .smsUsername),
                        clientSecret: Secret(try required(settings.smsAPIKey?.value, .smsAPIKey)),
                        senderID: try required(settings.smsSender, .smsSender),
                        baseURL: settings.smsBaseURL ?? "https://sms.hubtel.com"),
                    httpClient: .shared, logger: logger)
            case .twilio:
                let sender = try required(settings.smsSender, .smsSender)
                return TwilioSmsSender(
                    configuration: try .init(
                        accountSID: try required(settings.smsUsername, .smsUsername),
                        authToken: Secret(try required(settings.smsAPIKey?.value, .smsAPIKey)),
                        sender: sender.hasPrefix("MG") ? .messagingService(sid: sender) : .from(sender),
                        baseURL: settings.smsBaseURL ?? "https://api.twilio.com"),
                    httpClient: .shared, logger: logger)
            case .africastalking:
                return AfricasTalkingSmsSender(
                    configuration: try .init(
                        username: try required(settings.smsUsername, .smsUsername),
                        apiKey: Secret(try required(settings.smsAPIKey?.value, .smsAPIKey)),
                        senderID: settings.smsSender, baseURL: settings.smsBaseURL),
                    httpClient: .shared, logger: logger)
            }
        } catch let error as MessagingConfigurationError {
            throw Server.StartupError(description: "SMS provider \(provider.rawValue): \(error)")
        }
    }

    /// The configured email sender, or nil for the dev sink.
    static func email(_ settings: MessagingSettings, logger: Logger) throws -> (any EmailSender)? {
        let provider = settings.emailProvider ?? .devSink
        guard provider != .devSink else { return nil }
        guard let from = settings.emailFrom, !from.isEmpty else {
            throw Server.StartupError(
                description: "email provider \(provider.rawValue) needs \(Setting.emailFrom.names)")
        }
        do {
            switch provider {
            case .devSink:
                return nil
            case .resend:
                guard let key = settings.resendAPIKey else {
                    throw Server.StartupError(description: "email provider resend needs \(Setting.resendAPIKey.names)")
                }
                return ResendEmailSender(
                    configuration: try .init(
                        apiKey: key, from: from, baseURL: settings.resendBaseURL ?? "https://api.resend.com"),
                    httpClient: .shared, logger: logger)
            case .smtp:
                guard let url = settings.smtpURL else {
                    throw Server.StartupError(description: "email provider smtp needs \(Setting.smtpURL.names)")
                }
                return try SMTPEmailSender(
                    configuration: try self.smtpConfiguration(url.value, from: from), logger: logger)
            }
        } catch let error as MessagingConfigurationError {
            throw Server.StartupError(description: "email provider \(provider.rawValue): \(error)")
        }
    }

    /// `smtp://user:pass@host:587` (STARTTLS required), `smtps://…` (TLS from the start) or `smtp+insecure://…`.
    static func smtpConfiguration(_ text: String, from: String) throws -> SMTPEmailSender.Configuration {
        guard let url = URLComponents(string: text), let scheme = url.scheme, let host = url.host, !host.isEmpty else {
            throw Server.StartupError(
                description: "\(Setting.smtpURL.names) is not a URL like smtp://user:pass@host:587")
        }
        let tls: SMTPEmailSender.TLSMode
        switch scheme {
        case "smtp": tls = .startTLS
        case "smtps": tls = .implicitTLS
        case "smtp+insecure": tls = .none
        default:
            throw Server.StartupError(
                description: "\(Setting.smtpURL.names) must start smtp://, smtps:// or smtp+insecure://")
        }
        var credentials: SMTPEmailSender.Credentials?
        if let user = url.user, !user.isEmpty {
            credentials = .init(
                username: user.removingPercentEncoding ?? user,
                password: Secret(url.password.map { $0.removingPercentEncoding ?? $0 } ?? ""))
        }
        // "Kauri <no-reply@shop.example>" or a bare address.
        var name: String?
        var address = from.trimmingCharacters(in: .whitespaces)
        if let open = address.lastIndex(of: "<"), address.hasSuffix(">") {
            name = address[..<open].trimmingCharacters(in: .whitespaces)
            address = String(address[address.index(after: open)..<address.index(before: address.endIndex)])
        }
        return try SMTPEmailSender.Configuration(
            host: host, port: url.port, tls: tls, credentials: credentials, fromAddress: address,
            fromName: name?.isEmpty == false ? name : nil)
    }
}
