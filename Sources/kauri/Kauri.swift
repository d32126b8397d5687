import ArgumentParser
import Configuration
import Foundation
import KauriCore
import KauriDatabase
import KauriIdentity
import KauriLedger
import KauriSandbox
import KauriServer
import Logging
import UnixSignals

/// The `kauri` command: `serve` (the default), `migrate`, `ledger verify`.
@main
struct Kauri: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kauri",
        abstract: "Payments, escrow, ledger and identity for marketplaces in Africa and India.",
        version: kauriVersion,
        subcommands: [
            Serve.self, Migrate.self, SandboxCommand.self, LedgerCommand.self, Settle.self, Demo.self, Keys.self,
        ],
        defaultSubcommand: Serve.self)

    /// Runs the command; usage errors and invalid settings exit with status 2, naming the setting.
    static func main() async {
        do {
            var command = try Self.parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as SettingsError {
            Self.printError(error.description)
            Foundation.exit(2)
        } catch let error as Server.StartupError {
            Self.printError(error.description)
            Foundation.exit(1)
        } catch {
            let code = Self.exitCode(for: error)
            if code == .validationFailure {
                Self.printError(Self.message(for: error))
                Foundation.exit(2)
            }
            Self.exit(withError: error)
        }
    }

    static func printError(_ line: String) {
        FileHandle.standardError.write(Data("kauri: \(line)\n".utf8))
    }
}

/// The settings every command that touches the database shares.
struct SettingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(Self.help(.host), valueName: "address"))
    var host: String?

    @Option(name: .long, help: ArgumentHelp(Self.help(.port), valueName: "port"))
    var port: Int?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp(Self.help(.dataDirectory), valueName: "path"))
    var dataDirectory: String?

    @Option(name: .customLong("database-url"), help: ArgumentHelp(Self.help(.databaseURL), valueName: "url"))
    var databaseURL: String?

    @Option(name: .customLong("database-pool-size"), help: ArgumentHelp(Self.help(.databasePoolSize), valueName: "n"))
    var databasePoolSize: Int?

    @Option(name: .long, help: ArgumentHelp(Self.help(.mode), valueName: "mode"))
    var mode: String?

    @Option(
        name: .customLong("cors-allowed-origins"),
        help: ArgumentHelp(Self.help(.corsAllowedOrigins), valueName: "origins"))
    var corsAllowedOrigins: String?

    @Option(
        name: .customLong("request-body-bytes-max"),
        help: ArgumentHelp(Self.help(.requestBodyBytesMax), valueName: "bytes"))
    var requestBodyBytesMax: Int?

    @Option(name: .customLong("access-log"), help: ArgumentHelp(Self.help(.accessLog), valueName: "bool"))
    var accessLog: Bool?

    @Option(name: .customLong("log-level"), help: ArgumentHelp(Self.help(.logLevel), valueName: "level"))
    var logLevel: String?

    @Option(
        name: .customLong("shutdown-grace-seconds"),
        help: ArgumentHelp(Self.help(.shutdownGraceSeconds), valueName: "seconds"))
    var shutdownGraceSeconds: Int?

    @Option(name: .customLong("admin-api-key"), help: ArgumentHelp(Self.help(.adminAPIKey), valueName: "key"))
    var adminAPIKey: String?

    @Option(name: .customLong("public-url"), help: ArgumentHelp(Self.help(.publicURL), valueName: "url"))
    var publicURL: String?

    @Option(name: .customLong("jwt-signing-key"), help: ArgumentHelp(Self.help(.jwtSigningKey), valueName: "key"))
    var jwtSigningKey: String?

    @Option(
        name: .customLong("jwt-previous-keys"), help: ArgumentHelp(Self.help(.jwtVerificationKeys), valueName: "keys"))
    var jwtVerificationKeys: String?

    @Option(name: .customLong("auth-secret"), help: ArgumentHelp(Self.help(.authSecret), valueName: "secret"))
    var authSecret: String?

    @Option(name: .customLong("admins"), help: ArgumentHelp(Self.help(.admins), valueName: "list"))
    var admins: String?

    @Option(name: .customLong("rate-limit"), help: ArgumentHelp(Self.help(.rateLimit), valueName: "limit"))
    var rateLimit: String?

    @Option(name: .customLong("auth-rate-limit"), help: ArgumentHelp(Self.help(.authRateLimit), valueName: "limit"))
    var authRateLimit: String?

    @Option(name: .customLong("sms-provider"), help: ArgumentHelp(Self.help(.smsProvider), valueName: "name"))
    var smsProvider: String?

    @Option(name: .customLong("sms-username"), help: ArgumentHelp(Self.help(.smsUsername), valueName: "name"))
    var smsUsername: String?

    @Option(name: .customLong("sms-api-key"), help: ArgumentHelp(Self.help(.smsAPIKey), valueName: "key"))
    var smsAPIKey: String?

    @Option(name: .customLong("sms-sender"), help: ArgumentHelp(Self.help(.smsSender), valueName: "sender"))
    var smsSender: String?

    @Option(name: .customLong("sms-base-url"), help: ArgumentHelp(Self.help(.smsBaseURL), valueName: "url"))
    var smsBaseURL: String?

    @Option(name: .customLong("email-provider"), help: ArgumentHelp(Self.help(.emailProvider), valueName: "name"))
    var emailProvider: String?

    @Option(name: .customLong("email-from"), help: ArgumentHelp(Self.help(.emailFrom), valueName: "address"))
    var emailFrom: String?

    @Option(name: .customLong("resend-api-key"), help: ArgumentHelp(Self.help(.resendAPIKey), valueName: "key"))
    var resendAPIKey: String?

    @Option(name: .customLong("resend-base-url"), help: ArgumentHelp(Self.help(.resendBaseURL), valueName: "url"))
    var resendBaseURL: String?

    @Option(name: .customLong("smtp-url"), help: ArgumentHelp(Self.help(.smtpURL), valueName: "url"))
    var smtpURL: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "JSON file of settings keyed by environment variable name, e.g. {\"KAURI_PORT\": 8081}. "
                + "Env: KAURI_CONFIG. Precedence: flags > environment > this file > defaults.",
            valueName: "path"))
    var config: String?

    static func help(_ setting: Setting) -> String {
        "\(setting.help) Env: \(setting.environmentVariable). Default: \(setting.defaultDescription)."
    }

    /// Loads the settings with the flags given here on top.
    func load() async throws -> ServerSettings {
        var flags: [Setting: ConfigContent] = [:]
        if let host { flags[.host] = .string(host) }
        if let port { flags[.port] = .int(port) }
        if let dataDirectory { flags[.dataDirectory] = .string(dataDirectory) }
        if let databaseURL { flags[.databaseURL] = .string(databaseURL) }
        if let databasePoolSize { flags[.databasePoolSize] = .int(databasePoolSize) }
        if let mode { flags[.mode] = .string(mode) }
        if let corsAllowedOrigins {
            flags[.corsAllowedOrigins] = .stringArray(corsAllowedOrigins.split(separator: ",").map(String.init))
        }
        if let requestBodyBytesMax { flags[.requestBodyBytesMax] = .int(requestBodyBytesMax) }
        if let accessLog { flags[.accessLog] = .bool(accessLog) }
        if let logLevel { flags[.logLevel] = .string(logLevel) }
        if let shutdownGraceSeconds { flags[.shutdownGraceSeconds] = .int(shutdownGraceSeconds) }
        if let adminAPIKey { flags[.adminAPIKey] = .string(adminAPIKey) }
        if let publicURL { flags[.publicURL] = .string(publicURL) }
        if let jwtSigningKey { flags[.jwtSigningKey] = .string(jwtSigningKey) }
        if let jwtVerificationKeys {
            flags[.jwtVerificationKeys] = .stringArray(jwtVerificationKeys.split(separator: ",").map(String.init))
        }
        if let authSecret { flags[.authSecret] = .string(authSecret) }
        if let admins { flags[.admins] = .stringArray(admins.split(separator: ",").map(String.init)) }
        if let rateLimit { flags[.rateLimit] = .string(rateLimit) }
        if let authRateLimit { flags[.authRateLimit] = .string(authRateLimit) }
        if let smsProvider { flags[.smsProvider] = .string(smsProvider) }
        if let smsUsername { flags[.smsUsername] = .string(smsUsername) }
        if let smsAPIKey { flags[.smsAPIKey] = .string(smsAPIKey) }
        if let smsSender { flags[.smsSender] = .string(smsSender) }
        if let smsBaseURL { flags[.smsBaseURL] = .string(smsBaseURL) }
        if let emailProvider { flags[.emailProvider] = .string(emailProvider) }
        if let emailFrom { flags[.emailFrom] = .string(emailFrom) }
        if let resendAPIKey { flags[.resendAPIKey] = .string(resendAPIKey) }
        if let resendBaseURL { flags[.resendBaseURL] = .string(resendBaseURL) }
        if let smtpURL { flags[.smtpURL] = .string(smtpURL) }
        let environment = ProcessInfo.processInfo.environment
        return try await SettingsLoader.load(
            flags: flags, environment: environment, configFile: self.config ?? environment["KAURI_CONFIG"])
    }
}

/// `kauri serve`: apply migrations and serve the API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the API (SQLite in ./.kauri and sandbox gateways unless configured otherwise).")

    @OptionGroup var options: SettingOptions

    func run() async throws {
        let settings = try await self.options.load()
        let loggers = ProcessLoggers.makeLoggers(level: settings.logLevel)
        try await Server.serve(settings, logger: loggers.app, accessLogger: loggers.access)
    }
}

/// `kauri migrate`: apply pending migrations, or list them with `--status`.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")

    @OptionGroup var options: SettingOptions

    @Flag(name: .long, help: "List every migration and whether it is applied; change nothing.")
    var status = false

    func run() async throws {
        let settings = try await self.options.load()
        let loggers = ProcessLoggers.makeLoggers(level: .warning)
        try FileManager.default.createDirectory(atPath: settings.dataDirectory, withIntermediateDirectories: true)
        let database = try Database(settings.database, logger: loggers.app)
        do {
            try await self.migrate(database, settings: settings, logger: loggers.app)
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
    }

    private func migrate(_ database: Database, settings: ServerSettings, logger: Logger) async throws {
        do {
            try await database.ping(timeoutMilliseconds: 5_000)
        } catch {
            throw Server.StartupError(description: "cannot reach database \(settings.database.description): \(error)")
        }
        let runner = MigrationRunner(database: database, migrations: allMigrations, logger: logger)
        if self.status {
            for status in try await runner.status() {
                let state = status.appliedAt.map { "applied \($0)" } ?? "pending"
                print("\(status.module)/\(status.version) \(status.name): \(state)")
            }
        } else {
            let applied = try await runner.migrate()
            for migration in applied {
                print("applied \(migration.module)/\(migration.version) \(migration.name)")
            }
            print("\(applied.count) migration(s) applied; database \(settings.database.description) is up to date")
        }
    }
}

/// `kauri ledger …`: ledger tools.
struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Ledger tools.", subcommands: [Verify.self])

    /// `kauri ledger verify`: prove the ledger's invariants over one consistent snapshot; writes nothing.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that debits equal credits per currency, every balance equals its transfers, and no "
                + "account breaks its limit. Exit 0 with a summary, or 1 listing every violation.")

        @OptionGroup var options: SettingOptions

        func run() async throws {
            let settings = try await self.options.load()
            let loggers = ProcessLoggers.makeLoggers(level: .warning)
            guard settings.databaseURL != nil || FileManager.default.fileExists(atPath: settings.sqlitePath) else {
                throw Server.StartupError(description: "no database at \(settings.sqlitePath); nothing to verify")
            }
            let database = try Database(settings.database, logger: loggers.app)
            let report: LedgerVerifier.Report
            do {
                try await database.ping(timeoutMilliseconds: 5_000)
                report = try await LedgerVerifier.verify(database)
            } catch {
                await database.shutdown()
                throw Server.StartupError(
                    description: "cannot verify the ledger in \(settings.database.description): \(error)")
            }
            await database.shutdown()
            for violation in report.violations {
                print("violation: \(violation)")
            }
            print(report.summary)
            if !report.isValid {
                throw ExitCode(1)
            }
        }
    }
}

/// `kauri settle --now`: one settlement pass, then exit.
struct Settle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release every escrow whose inspection window ended and create the refunds resolved disputes owe "
            + "(what the server's settlement service does every 30 s), then exit.")

    @Flag(name: .long, help: "Run the pass now (required: settlement otherwise runs inside `kauri serve`).")
    var now = false

    @OptionGroup var options: SettingOptions

    func validate() throws {
        guard self.now else { throw ValidationError("say --now to run a settlement pass") }
    }

    func run() async throws {
        let settings = try await self.options.load()
        let loggers = ProcessLoggers.makeLoggers(level: .warning)
        let (released, refunds, payouts) = try await Server.settleNow(settings, logger: loggers.app)
        print(
            "settled: \(released) escrow(s) released, \(refunds) owed refund(s) created, "
                + "\(payouts) automatic payout(s) settled")
    }
}

/// `kauri demo`: the S4 story end to end on a fresh SQLite file with the sandbox.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole S4 story on a fresh SQLite database with the gateway sandbox, printing each step: "
            + "sign-in by SMS code, payment link, STK push, shipping, confirmation, release, payout, ledger verify. "
            + "Exit 0 only if every step passed.")

    @OptionGroup var options: SettingOptions

    func run() async throws {
        let settings = try await self.options.load()
        let loggers = ProcessLoggers.makeLoggers(level: .error)
        let passed = try await Server.demo(settings, logger: loggers.app) { line in Swift.print(line) }
        if !passed { throw ExitCode(1) }
    }
}

/// `kauri keys`: prints a new access-token signing key and server secret for live configuration.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a new KAURI_JWT_SIGNING_KEY and KAURI_AUTH_SECRET (keep them secret).")

    func run() {
        print("KAURI_JWT_SIGNING_KEY=\(SigningKey.generate().base64Seed)")
        print("KAURI_AUTH_SECRET=\(AuthSecret.generate().base64)")
    }
}

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the gateway and messaging simulators alone (Paystack, M-Pesa Daraja, PayHero, SMS, email).",
        discussion: """
            Point an adapter's base URL at <url>/paystack, <url>/daraja or <url>/payhero/api/v2. The credentials \
            the simulators accept and the phone numbers that script outcomes are in docs/SANDBOX.md.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8090
    @Option(
        help: "Where the simulated Paystack dashboard sends webhooks, e.g. http://127.0.0.1:8080/v1/webhooks/paystack.")
    var paystackWebhookURL: String?

    func run() async throws {
        let logger = Logger(label: "kauri.sandbox")
        let sandbox = try await SandboxServer.start(host: self.host, port: self.port, logger: logger)
        if let url = self.paystackWebhookURL { sandbox.payments.setPaystackWebhookURL(url) }
        print("kauri sandbox listening on \(sandbox.baseURL)")
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
        await sandbox.shutdown()
    }
}
