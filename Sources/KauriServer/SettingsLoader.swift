import Configuration
import Foundation
import KauriCore
import KauriEscrow
import KauriHTTP
import KauriIdentity
import Logging
import SystemPackage

/// A setting that could not be read; the CLI prints it and exits with status 2.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    /// The setting at fault, if the problem is one setting.
    public let setting: Setting?
    /// Why it was refused; never contains a secret value.
    public let reason: String

    /// One line naming the setting.
    public var description: String {
        if let setting { return "invalid setting \(setting.names): \(self.reason)" }
        return self.reason
    }
}

/// Reads `ServerSettings` through swift-configuration with the precedence
/// command-line flags > environment variables > JSON config file (`--config` / `KAURI_CONFIG`) > defaults.
///
/// Each setting has one key, its environment variable name; the config file uses the same names as its keys
/// (`{"KAURI_PORT": 8081}`), so there is one vocabulary for all three sources.
public enum SettingsLoader {
    /// Loads and validates the settings.
    /// - Parameters:
    ///   - flags: Values given on the command line, keyed by setting.
    ///   - environment: The process environment.
    ///   - configFile: A JSON file of settings, if one was named.
    public static func load(
        flags: [Setting: ConfigContent],
        environment: [String: String],
        configFile: String? = nil
    ) async throws(SettingsError) -> ServerSettings {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(
                    uniqueKeysWithValues: flags.map { setting, content in
                        (
                            AbsoluteConfigKey([setting.environmentVariable]),
                            ConfigValue(content, isSecret: setting.isSecret)
                        )
                    })),
            EnvironmentVariablesProvider(
                environmentVariables: environment,
                secretsSpecifier: .specific(Set(Setting.all.filter(\.isSecret).map(\.environmentVariable)))),
        ]
        if let configFile {
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(configFile)))
            } catch {
                throw SettingsError(setting: nil, reason: "cannot read config file \(configFile): \(error)")
            }
        }
        let reader = ConfigReader(providers: providers)
        let defaults = ServerSettings()
        var settings = defaults

        if let host = try Self.read(.host, reader, { try $0.requiredString(forKey: $1) }) {
            guard !host.isEmpty else { throw SettingsError(setting: .host, reason: "must not be empty") }
            settings.host = host
        }
        if let port = try Self.read(.port, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (0...65_535).contains(port) else {
                throw SettingsError(setting: .port, reason: "must be from 0 to 65535, got \(port)")
            }
            settings.port = port
        }
        if let directory = try Self.read(.dataDirectory, reader, { try $0.requiredString(forKey: $1) }) {
            guard !directory.isEmpty else { throw SettingsError(setting: .dataDirectory, reason: "must not be empty") }
            settings.dataDirectory = directory
        }
        if let url = try Self.read(.databaseURL, reader, { try $0.requiredString(forKey: $1, isSecret: true) }),
            !url.isEmpty
        {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw SettingsError(setting: .databaseURL, reason: "must be a postgres:// or postgresql:// URL")
            }
            settings.databaseURL = Secret(url)
        }
        if let size = try Self.read(.databasePoolSize, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (1...200).contains(size) else {
                throw SettingsError(setting: .databasePoolSize, reason: "must be from 1 to 200, got \(size)")
            }
            settings.databasePoolSize = size
        }
        if let text = try Self.read(.mode, reader, { try $0.requiredString(forKey: $1) }) {
            guard let mode = ServerSettings.Mode(rawValue: text) else {
                throw SettingsError(setting: .mode, reason: "must be sandbox or live, got '\(text)'")
            }
            settings.mode = mode
        }
        if let origins = try Self.read(.corsAllowedOrigins, reader, { try $0.requiredStringArray(forKey: $1) }) {
            let trimmed = origins.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for origin in trimmed where !(origin.hasPrefix("https://") || origin.hasPrefix("http://")) {
                throw SettingsError(
                    setting: .corsAllowedOrigins, reason: "'\(origin)' is not an origin like https://shop.example")
            }
            settings.corsAllowedOrigins = Set(trimmed)
        }
        if let bytes = try Self.read(.requestBodyBytesMax, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (1_024...67_108_864).contains(bytes) else {
                throw SettingsError(
                    setting: .requestBodyBytesMax, reason: "must be from 1024 to 67108864, got \(bytes)")
            }
            settings.limits.requestBodyBytesMax = bytes
        }
        if let accessLog = try Self.read(.accessLog, reader, { try $0.requiredBool(forKey: $1) }) {
            settings.accessLog = accessLog
        }
        if let text = try Self.read(.logLevel, reader, { try $0.requiredString(forKey: $1) }) {
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw SettingsError(
                    setting: .logLevel, reason: "must be one of trace, debug, info, notice, warning, error, critical")
            }
            settings.logLevel = level
        }
        if let seconds = try Self.read(.shutdownGraceSeconds, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (0...3_600).contains(seconds) else {
                throw SettingsError(setting: .shutdownGraceSeconds, reason: "must be from 0 to 3600, got \(seconds)")
            }
            settings.limits.shutdownGraceSeconds = seconds
        }
        if let key = try Self.read(.adminAPIKey, reader, { try $0.requiredString(forKey: $1, isSecret: true) }),
            !key.isEmpty
        {
            guard key.utf8.count >= 32, key.utf8.count <= 256, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw SettingsError(
                    setting: .adminAPIKey, reason: "must be 32–256 printable characters without spaces")
            }
            settings.adminAPIKey = Secret(key)
        }
        try Self.loadIdentity(reader, into: &settings)
        try Self.loadMessaging(reader, into: &settings)
        try Self.loadPayments(reader, into: &settings)
        try Self.loadEscrow(reader, into: &settings)
        return settings
    }

    private static func loadIdentity(_ reader: ConfigReader, into settings: inout ServerSettings) throws(SettingsError)
    {
        if let url = try Self.read(.publicURL, reader, { try $0.requiredString(forKey: $1) }), !url.isEmpty {
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw SettingsError(setting: .publicURL, reason: "must be an http(s):// URL")
            }
            settings.publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        if let key = try Self.read(.jwtSigningKey, reader, { try $0.requiredString(forKey: $1, isSecret: true) }),
            !key.isEmpty
        {
            guard (try? SigningKey(base64Seed: key)) != nil else {
                throw SettingsError(setting: .jwtSigningKey, reason: "must be a 32-byte Ed25519 seed in base64")
            }
            settings.jwtSigningKey = Secret(key)
        }
        if let keys = try Self.read(
            .jwtVerificationKeys, reader, { try $0.requiredStringArray(forKey: $1, isSecret: true) })
        {
            let trimmed = keys.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for key in trimmed where (try? SigningKey(base64Seed: key)) == nil {
                throw SettingsError(
                    setting: .jwtVerificationKeys, reason: "each must be a 32-byte Ed25519 seed in base64")
            }
            settings.jwtVerificationKeys = trimmed.map(Secret.init)
        }
        if let secret = try Self.read(.authSecret, reader, { try $0.requiredString(forKey: $1, isSecret: true) }),
            !secret.isEmpty
        {
            guard (try? AuthSecret(base64: secret)) != nil else {
                throw SettingsError(setting: .authSecret, reason: "must be at least 32 random bytes in base64")
            }
            settings.authSecret = Secret(secret)
        }
        if let admins = try Self.read(.admins, reader, { try $0.requiredStringArray(forKey: $1) }) {
            var normalized = Set<String>()
            for admin in admins.map({ $0.trimmingCharacters(in: .whitespaces) }) where !admin.isEmpty {
                if let email = EmailAddress(admin) {
                    normalized.insert(email.normalized)
                } else if let phone = try? PhoneNumber(parsing: admin) {
                    normalized.insert(phone.e164)
                } else {
                    throw SettingsError(
                        setting: .admins, reason: "'\(admin)' is neither an email address nor a phone number")
                }
            }
            settings.admins = normalized
        }
        for setting in [Setting.rateLimit, .authRateLimit] {
            guard let text = try Self.read(setting, reader, { try $0.requiredString(forKey: $1) }) else { continue }
            var limit: RateLimit?
            if text != "off" {
                guard let parsed = RateLimit(parsing: text) else {
                    throw SettingsError(setting: setting, reason: "must be <count>/<second|minute|hour> or off")
                }
                limit = parsed
            }
            if setting == .rateLimit { settings.rateLimit = limit } else { settings.authRateLimit = limit }
        }
    }

    private static func loadMessaging(_ reader: ConfigReader, into settings: inout ServerSettings) throws(SettingsError)
    {
        var messaging = MessagingSettings()
        if let text = try Self.read(.smsProvider, reader, { try $0.requiredString(forKey: $1) }), !text.isEmpty {
            guard let provider = MessagingSettings.SmsProvider(rawValue: text) else {
                throw SettingsError(setting: .smsProvider, reason: "must be dev_sink, hubtel, twilio or africastalking")
            }
            messaging.smsProvider = provider
        }
        messaging.smsUsername = try Self.read(.smsUsername, reader, { try $0.requiredString(forKey: $1) })
        messaging.smsAPIKey = try Self.read(.smsAPIKey, reader, { try $0.requiredString(forKey: $1, isSecret: true) })
            .map(Secret.init)
        messaging.smsSender = try Self.read(.smsSender, reader, { try $0.requiredString(forKey: $1) })
        messaging.smsBaseURL = try Self.read(.smsBaseURL, reader, { try $0.requiredString(forKey: $1) })
        if let text = try Self.read(.emailProvider, reader, { try $0.requiredString(forKey: $1) }), !text.isEmpty {
            guard let provider = MessagingSettings.EmailProvider(rawValue: text) else {
                throw SettingsError(setting: .emailProvider, reason: "must be dev_sink, resend or smtp")
            }
            messaging.emailProvider = provider
        }
        messaging.emailFrom = try Self.read(.emailFrom, reader, { try $0.requiredString(forKey: $1) })
        messaging.resendAPIKey = try Self.read(
            .resendAPIKey, reader, { try $0.requiredString(forKey: $1, isSecret: true) }
        ).map(Secret.init)
        messaging.resendBaseURL = try Self.read(.resendBaseURL, reader, { try $0.requiredString(forKey: $1) })
        messaging.smtpURL = try Self.read(.smtpURL, reader, { try $0.requiredString(forKey: $1, isSecret: true) })
            .map(Secret.init)
        for (setting, url) in [(Setting.smsBaseURL, messaging.smsBaseURL), (.resendBaseURL, messaging.resendBaseURL)] {
            if let url, !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
                throw SettingsError(setting: setting, reason: "must be an http(s):// URL")
            }
        }
        settings.messaging = messaging
    }

    private static func loadEscrow(_ reader: ConfigReader, into settings: inout ServerSettings) throws(SettingsError) {
        var escrow = EscrowSettings()
        if let points = try Self.read(.escrowFeeBasisPoints, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (0...10_000).contains(points) else {
                throw SettingsError(setting: .escrowFeeBasisPoints, reason: "must be from 0 to 10000, got \(points)")
            }
            escrow.feeBasisPoints = Int64(points)
        }
        if let text = try Self.read(.escrowFeeFixed, reader, { try $0.requiredString(forKey: $1) }), !text.isEmpty {
            for entry in text.split(separator: ",") {
                let parts = entry.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let currency = Currency(code: parts[0]), let units = Int64(parts[1]),
                    units >= 0
                else {
                    throw SettingsError(
                        setting: .escrowFeeFixed,
                        reason: "expected CURRENCY:minor-units pairs like KES:1000, got \(entry)")
                }
                escrow.feeFixed[currency] = units
            }
        }
        if let hours = try Self.read(.escrowInspectionHours, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (1...720).contains(hours) else {
                throw SettingsError(setting: .escrowInspectionHours, reason: "must be from 1 to 720, got \(hours)")
            }
            escrow.inspectionHours = hours
        }
        if let json = try Self.read(.riskRules, reader, { try $0.requiredString(forKey: $1) }), !json.isEmpty {
            do {
                escrow.riskRules = try RiskRules.parse(json: json)
            } catch {
                throw SettingsError(setting: .riskRules, reason: "not valid rules JSON: \(error)")
            }
        }
        if let automatic = try Self.read(.escrowAutomaticPayouts, reader, { try $0.requiredBool(forKey: $1) }) {
            escrow.automaticPayouts = automatic
        }
        if let hours = try Self.read(.sessionHoldHours, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (1...720).contains(hours) else {
                throw SettingsError(setting: .sessionHoldHours, reason: "must be from 1 to 720, got \(hours)")
            }
            escrow.sessionHoldHours = hours
        }
        if let text = try Self.read(.sessionRatingShares, reader, { try $0.requiredString(forKey: $1) }),
            !text.isEmpty
        {
            do {
                escrow.sessionShares = try SessionShares.parse(text)
            } catch {
                throw SettingsError(setting: .sessionRatingShares, reason: error.description)
            }
        }
        settings.escrow = escrow
    }

    private static func loadPayments(_ reader: ConfigReader, into settings: inout ServerSettings) throws(SettingsError)
    {
        var payments = PaymentSettings()
        func string(_ setting: Setting) throws(SettingsError) -> String? {
            let value = try Self.read(
                setting, reader, { try $0.requiredString(forKey: $1, isSecret: setting.isSecret) })
            return value?.isEmpty == true ? nil : value
        }
        payments.apiURL = try string(.apiURL).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        payments.paystackSecretKey = try string(.paystackSecretKey).map(Secret.init)
        payments.paystackBaseURL = try string(.paystackBaseURL)
        payments.mpesaConsumerKey = try string(.mpesaConsumerKey)
        payments.mpesaConsumerSecret = try string(.mpesaConsumerSecret).map(Secret.init)
        payments.mpesaShortCode = try string(.mpesaShortCode)
        payments.mpesaPasskey = try string(.mpesaPasskey).map(Secret.init)
        payments.mpesaTillNumber = try string(.mpesaTillNumber)
        payments.mpesaB2CShortCode = try string(.mpesaB2CShortCode)
        payments.mpesaInitiatorName = try string(.mpesaInitiatorName)
        payments.mpesaSecurityCredential = try string(.mpesaSecurityCredential).map(Secret.init)
        payments.mpesaBaseURL = try string(.mpesaBaseURL)
        payments.payheroUsername = try string(.payheroUsername)
        payments.payheroPassword = try string(.payheroPassword).map(Secret.init)
        payments.payheroChannelID = try Self.read(.payheroChannelID, reader, { try $0.requiredInt(forKey: $1) })
        payments.payheroBaseURL = try string(.payheroBaseURL)
        for (setting, url) in [
            (Setting.apiURL, payments.apiURL), (.paystackBaseURL, payments.paystackBaseURL),
            (.mpesaBaseURL, payments.mpesaBaseURL),
            (.payheroBaseURL, payments.payheroBaseURL),
        ] {
            if let url, !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
                throw SettingsError(setting: setting, reason: "must be an http(s):// URL")
            }
        }
        if let minutes = try Self.read(.paymentLifetimeMinutes, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (1...10_080).contains(minutes) else {
                throw SettingsError(setting: .paymentLifetimeMinutes, reason: "must be from 1 to 10080, got \(minutes)")
            }
            payments.paymentLifetimeMinutes = minutes
        }
        if let hours = try Self.read(.idempotencyRetentionHours, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (24...2_160).contains(hours) else {
                throw SettingsError(
                    setting: .idempotencyRetentionHours, reason: "must be from 24 to 2160, got \(hours)")
            }
            payments.idempotencyRetentionHours = hours
        }
        if let seconds = try Self.read(.idempotencyLeaseSeconds, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (1...3_600).contains(seconds) else {
                throw SettingsError(setting: .idempotencyLeaseSeconds, reason: "must be from 1 to 3600, got \(seconds)")
            }
            payments.idempotencyLeaseSeconds = seconds
        }
        if let port = try Self.read(.sandboxPort, reader, { try $0.requiredInt(forKey: $1) }) {
            guard (0...65_535).contains(port) else {
                throw SettingsError(setting: .sandboxPort, reason: "must be from 0 to 65535, got \(port)")
            }
            payments.sandboxPort = port
        }
        settings.payments = payments
    }

    /// Reads one setting: nil when no source sets it, the typed value when one does, and an error naming the
    /// setting when a source sets it to something that is not of its kind.
    private static func read<Value>(
        _ setting: Setting,
        _ reader: ConfigReader,
        _ typed: (ConfigReader, ConfigKey) throws -> Value
    ) throws(SettingsError) -> Value? {
        let key = ConfigKey([setting.environmentVariable])
        do {
            return try typed(reader, key)
        } catch {
            let present =
                reader.string(forKey: key, isSecret: setting.isSecret) != nil
                || reader.int(forKey: key) != nil || reader.bool(forKey: key) != nil
                || reader.double(forKey: key) != nil
            guard present else { return nil }
            let shown = setting.isSecret ? "" : " ('\(reader.string(forKey: key) ?? "?")')"
            throw SettingsError(setting: setting, reason: "value\(shown) is not \(Self.article(setting.kind))")
        }
    }

    private static func article(_ kind: Setting.Kind) -> String {
        switch kind {
        case .string: "a string"
        case .integer: "an integer"
        case .boolean: "true or false"
        case .list: "a comma-separated list"
        }
    }
}
