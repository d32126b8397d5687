import Foundation
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriIdentity
import KauriMessaging
import KauriServer
import KauriTestSupport
import Testing

/// The identity API under test: the real application (router test mode) on a fresh database, a manual clock,
/// bcrypt at cost 4, and the outbox delivered on demand into the dev sink.
struct IdentityHarness: Sendable {
    static let adminKey = "test-admin-key-0123456789abcdef0123456789"
    static let start = Timestamp(rfc3339: "2026-11-22T10:00:00Z")!

    let client: any TestClientProtocol
    let dependencies: AppDependencies
    let clock: ManualClock

    var database: Database { self.dependencies.database }
    var identity: Identity { self.dependencies.identity }

    /// A decoded answer.
    struct Reply: @unchecked Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let json: [String: Any]

        var code: String? { self.json["code"] as? String }
        subscript(key: String) -> Any? { self.json[key] }
        var accessToken: String? { self.json["access_token"] as? String }
        var refreshToken: String? { self.json["refresh_token"] as? String }
        var user: [String: Any]? { self.json["user"] as? [String: Any] }
    }

    /// Runs `body` on each engine the environment offers.
    static func forEachEngine(
        configure: @escaping @Sendable (inout IdentityConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (IdentityHarness) async throws -> Void
    ) async throws {
        for kind in TestDatabases.kinds {
            try await self.with(kind, configure: configure, body)
        }
    }

    /// Runs `body` against a fresh application on `kind`.
    static func with(
        _ kind: Database.Kind,
        configure: @escaping @Sendable (inout IdentityConfiguration) -> Void = { _ in },
        routes: @escaping @Sendable (DocumentedRouter, AppDependencies) -> Void = { _, _ in },
        _ body: @escaping @Sendable (IdentityHarness) async throws -> Void
    ) async throws {
        try await TestDatabases.with(kind) { databases in
            let database = databases[0]
            try await MigrationRunner(database: database, migrations: allMigrations, logger: TestDatabases.logger)
                .migrate()
            var settings = ServerSettings()
            settings.adminAPIKey = Secret(Self.adminKey)
            let clock = ManualClock(Self.start)
            var configuration = IdentityConfiguration()
            configure(&configuration)
            let dependencies = AppDependencies(
                settings: settings, database: database, logger: TestDatabases.logger, clock: clock,
                identityConfiguration: configuration, bcryptCost: 4)
            let app = buildApplication(dependencies, configureRoutes: { routes($0, dependencies) })
            try await app.test(.router) { client in
                try await body(IdentityHarness(client: client, dependencies: dependencies, clock: clock))
            }
        }
    }

    // MARK: Requests

    /// Sends JSON (or nothing) with an optional bearer token and decodes the answer.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, _ body: [String: Any]? = nil, token: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var buffer: ByteBuffer?
        if let body {
            headers[.contentType] = "application/json"
            buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))
        }
        let response = try await self.client.execute(uri: uri, method: method, headers: headers, body: buffer)
        let json: [String: Any] =
            response.body.readableBytes == 0
            ? [:]
            : (try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
        return Reply(status: response.status, headers: response.headers, json: json)
    }

    /// Delivers every outbox message (into the dev sink): those due now here, and waits for any the
    /// application's own delivery service has in flight.
    func deliverOutbox() async throws {
        let service = OutboxDeliveryService(
            outbox: self.dependencies.outbox, database: self.database, sms: self.dependencies.sms,
            email: self.dependencies.email, clock: self.clock, logger: TestDatabases.logger)
        for _ in 0..<500 {
            while try await service.deliverDue() > 0 {}
            let pending = try await self.database.withConnection { connection in
                try await connection.raw("SELECT COUNT(*) AS n FROM outbox_messages WHERE status = 'pending'")
                    .first()?.decode(column: "n", as: Int.self) ?? 0
            }
            if pending == 0 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("outbox messages still pending after 5 s")
    }

    /// The dev sink's messages to `recipient`, newest first, after delivering the outbox.
    func messages(to recipient: String) async throws -> [[String: Any]] {
        try await self.deliverOutbox()
        let encoded = recipient.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? recipient
        let reply = try await self.send(.get, "/v1/dev/messages?to=\(encoded)")
        return reply["data"] as? [[String: Any]] ?? []
    }

    /// The six-digit code in the newest SMS to `phone`.
    func latestCode(to phone: String) async throws -> String {
        let body = try #require(try await self.messages(to: phone).first?["body"] as? String)
        return try #require(body.firstMatch(of: /\d{6}/).map { String($0.output) })
    }

    /// The token in the newest email to `email` (emails carry the bare token when no public URL is set).
    func latestEmailToken(to email: String) async throws -> String {
        let body = try #require(try await self.messages(to: email).first?["body"] as? String)
        let lines = body.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        return try #require(
            lines.first { $0.count >= 40 && !$0.contains(" ") }.map { String($0.split(separator: "=").last!) })
    }

    /// Requests a code for `phone` and signs in with it; returns the token answer.
    func signInByPhone(_ phone: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Reply {
        let requested = try await self.send(.post, "/v1/auth/otp", ["phone": phone])
        #expect(requested.status == .accepted, "\(requested.json)", sourceLocation: sourceLocation)
        let code = try await self.latestCode(to: phone)
        let reply = try await self.send(.post, "/v1/auth/otp/verify", ["phone": phone, "code": code])
        #expect(reply.status == .ok, "\(reply.json)", sourceLocation: sourceLocation)
        return reply
    }

    /// Registers, verifies the email and logs in; returns the token answer.
    func registerAndLogIn(
        _ email: String, password: String = "correct horse battery", sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let registered = try await self.send(.post, "/v1/auth/register", ["email": email, "password": password])
        #expect(registered.status == .accepted, "\(registered.json)", sourceLocation: sourceLocation)
        let token = try await self.latestEmailToken(to: email)
        let verified = try await self.send(.post, "/v1/auth/email/verify", ["token": token])
        #expect(verified.status == .ok, "\(verified.json)", sourceLocation: sourceLocation)
        let reply = try await self.send(.post, "/v1/auth/login", ["email": email, "password": password])
        #expect(reply.status == .ok, "\(reply.json)", sourceLocation: sourceLocation)
        return reply
    }

    /// Advances the clock by whole seconds.
    func advance(seconds: Int) {
        self.clock.advance(milliseconds: UInt64(seconds) * 1_000)
    }
}
