import Foundation
import KauriCore
import KauriDatabase
import KauriLedger
import Logging
import SQLKit
import Testing

/// Drives the built `kauri` executable as a user would.
@Suite("kauri command line", .serialized)
struct CLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Run {
        let status: Int32
        let output: String
        let error: String
    }

    static func executable() throws -> URL {
        for configuration in ["debug", "release"] {
            let url = Self.root.appendingPathComponent(".build/\(configuration)/kauri")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "build the kauri executable first"])
    }

    static func launch(_ arguments: [String], environment: [String: String] = [:], directory: URL) throws
        -> (Process, URL, URL)
    {
        let process = Process()
        process.executableURL = try Self.executable()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        for key in env.keys where key.hasPrefix("KAURI_") { env.removeValue(forKey: key) }
        env.merge(environment) { _, new in new }
        process.environment = env
        process.currentDirectoryURL = directory
        let out = directory.appendingPathComponent("stdout-\(UUID()).log")
        let err = directory.appendingPathComponent("stderr-\(UUID()).log")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        return (process, out, err)
    }

    static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL) throws -> Run {
        let (process, out, err) = try Self.launch(arguments, environment: environment, directory: directory)
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            output: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            error: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    static func withDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kauri-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory)
    }

    @Test("an unparseable flag or environment setting exits 2 and names the setting")
    func invalidSettingExitsTwo() async throws {
        try await Self.withDirectory { directory in
            let flag = try Self.run(["serve", "--port", "eighty"], directory: directory)
            #expect(flag.status == 2)
            #expect(flag.error.contains("--port"))
            let env = try Self.run(["serve"], environment: ["KAURI_PORT": "eighty"], directory: directory)
            #expect(env.status == 2)
            #expect(env.error.contains("KAURI_PORT"))
            let mode = try Self.run(["serve"], environment: ["KAURI_MODE": "prod"], directory: directory)
            #expect(mode.status == 2)
            #expect(mode.error.contains("KAURI_MODE"))
        }
    }

    @Test("live mode refuses to start without keys, and without real SMS and email providers; secrets stay out")
    func liveModeNeedsKeysAndProviders() async throws {
        try await Self.withDirectory { directory in
            let noKeys = try Self.run(
                ["serve", "--port", "0"], environment: ["KAURI_MODE": "live"], directory: directory)
            #expect(noKeys.status == 1)
            #expect(noKeys.error.contains("KAURI_JWT_SIGNING_KEY"))
            let keys = try Self.run(["keys"], directory: directory)
            #expect(keys.status == 0)
            var environment = ["KAURI_MODE": "live"]
            for line in keys.output.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { environment[parts[0]] = parts[1] }
            }
            #expect(environment["KAURI_AUTH_SECRET"] != nil)
            let noSms = try Self.run(["serve", "--port", "0"], environment: environment, directory: directory)
            #expect(noSms.status == 1)
            #expect(noSms.error.contains("KAURI_SMS_PROVIDER"))
            environment["KAURI_SMS_PROVIDER"] = "twilio"
            environment["KAURI_SMS_USERNAME"] = "AC0123"
            environment["KAURI_SMS_SENDER"] = "+15005550006"
            let noEmail = try Self.run(["serve", "--port", "0"], environment: environment, directory: directory)
            #expect(noEmail.status == 1)
            #expect(noEmail.error.contains("KAURI_EMAIL_PROVIDER"))
            environment["KAURI_EMAIL_PROVIDER"] = "smtp"
            environment["KAURI_EMAIL_FROM"] = "Kauri <no-reply@shop.example>"
            environment["KAURI_SMTP_URL"] = "smtp://user:pa55word@127.0.0.1:2525"
            let noToken = try Self.run(["serve", "--port", "0"], environment: environment, directory: directory)
            #expect(noToken.status == 1)
            #expect(noToken.error.contains("KAURI_SMS_API_KEY"))
            #expect(!noToken.error.contains(environment["KAURI_AUTH_SECRET"]!))
        }
    }

    @Test("an unreachable DATABASE_URL at start is one clear line, a non-zero exit, and no password")
    func unreachableDatabase() async throws {
        try await Self.withDirectory { directory in
            let run = try Self.run(
                ["serve"], environment: ["DATABASE_URL": "postgres://kauri:s3cretpw@127.0.0.1:1/kauri"],
                directory: directory)
            #expect(run.status == 1)
            #expect(run.error.split(separator: "\n").count == 1)
            #expect(run.error.contains("cannot use database postgres://kauri:***@127.0.0.1:1/kauri"))
            #expect(!run.error.contains("s3cretpw") && !run.output.contains("s3cretpw"))
        }
    }

    @Test("serve starts with no configuration, logs one ready line, and exits 0 on SIGTERM")
    func serveAndGracefulShutdown() async throws {
        try await Self.withDirectory { directory in
            let port = try await ShutdownTests.freePort()
            let (process, out, _) = try Self.launch(["--port", String(port)], directory: directory)
            var ready: [String: Any]?
            for _ in 0..<200 where ready == nil {
                try await Task.sleep(for: .milliseconds(50))
                let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
                ready = text.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }.first { $0["message"] as? String == "kauri ready" }
            }
            let line = try #require(ready, "no ready line")
            #expect(line["url"] as? String == "http://127.0.0.1:\(port)")
            #expect(line["mode"] as? String == "sandbox")
            #expect((line["database"] as? String)?.hasPrefix("sqlite:./.kauri/kauri.sqlite") == true)
            #expect(
                FileManager.default.fileExists(atPath: directory.appendingPathComponent(".kauri/kauri.sqlite").path))
            // Sandbox mode generates the admin API key once, readable only by its owner.
            let keyPath = directory.appendingPathComponent(".kauri/admin-api-key").path
            let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let key = try String(contentsOfFile: keyPath, encoding: .utf8)
            #expect(key.hasPrefix("sk_sandbox_") && key.count >= 40)
            #expect(
                !((try? String(contentsOf: out, encoding: .utf8)) ?? "").contains(key.trimmingCharacters(in: .newlines))
            )
            // And the access-token signing key and the auth secret, likewise, never in the log.
            for name in ["jwt-signing-key", "auth-secret"] {
                let path = directory.appendingPathComponent(".kauri/\(name)").path
                #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
                let secret = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
                #expect(secret.count >= 43, "\(name)")
                #expect(!((try? String(contentsOf: out, encoding: .utf8)) ?? "").contains(secret))
            }
            process.terminate()  // SIGTERM
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0)
        }
    }

    @Test("migrate applies pending migrations once and --status lists them")
    func migrate() async throws {
        try await Self.withDirectory { directory in
            let pending = try Self.run(["migrate", "--status", "--data-dir", "data"], directory: directory)
            #expect(pending.status == 0)
            #expect(pending.output.contains("platform/1 create_metadata: pending"))
            let first = try Self.run(["migrate", "--data-dir", "data"], directory: directory)
            #expect(first.status == 0)
            #expect(first.output.contains("applied platform/1 create_metadata"))
            let second = try Self.run(["migrate", "--data-dir", "data"], directory: directory)
            #expect(second.output.contains("0 migration(s) applied"))
            let status = try Self.run(["migrate", "--status", "--data-dir", "data"], directory: directory)
            #expect(status.output.contains("platform/1 create_metadata: applied"))
        }
    }

    @Test("ledger verify exits 0 with a summary, and 1 listing every violation when a balance was tampered with")
    func ledgerVerify() async throws {
        try await Self.withDirectory { directory in
            let missing = try Self.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(missing.status == 1)
            #expect(try Self.run(["migrate", "--data-dir", "data"], directory: directory).status == 0)
            let path = directory.appendingPathComponent("data/kauri.sqlite").path
            let database = try Database(.sqlite(path: path, poolSize: 1), logger: Logger(label: "test"))
            let ledger = Ledger(database: database, clock: SystemClock(), logger: Logger(label: "test"))
            _ = try await ledger.createAccounts(
                ["a", "b"].map { NewAccount(id: LedgerAccount.ID($0)!, currency: .kes, code: .sellerPayable) })
            let transfer = try await ledger.submit(
                NewTransfer(
                    id: LedgerTransfer.ID("t1")!,
                    operation: .single(
                        debit: LedgerAccount.ID("a")!, credit: LedgerAccount.ID("b")!,
                        amount: Money(minorUnits: 250, currency: .kes)),
                    code: "test"))
            #expect(transfer.transfer != nil)
            let ok = try Self.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(ok.status == 0)
            #expect(ok.output.contains("ledger ok: 2 accounts, 1 transfers; KES posted 250 pending 0"))
            try await database.transaction {
                try await $0.raw("UPDATE ledger_accounts SET debits_posted = 0 WHERE id = 'a'").run()
            }
            await database.shutdown()
            let bad = try Self.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(bad.status == 1)
            #expect(bad.output.contains("violation: KES: posted debits 0 ≠ posted credits 250"))
            #expect(bad.output.contains("violation: account a: debits_posted 0, transfers say 250"))
            #expect(bad.output.contains("ledger INVALID (2 violations)"))
        }
    }

    @Test("settle --now releases the escrows whose window ended, once, and the ledger verifies")
    func settleNow() async throws {
        try await Self.withDirectory { directory in
            let refused = try Self.run(["settle", "--data-dir", "data"], directory: directory)
            #expect(refused.status == 2)
            #expect(try Self.run(["migrate", "--data-dir", "data"], directory: directory).status == 0)
            let path = directory.appendingPathComponent("data/kauri.sqlite").path
            let database = try Database(.sqlite(path: path, poolSize: 1), logger: Logger(label: "test"))
            let ledger = Ledger(database: database, clock: SystemClock(), logger: Logger(label: "test"))
            let clearing = LedgerAccount.ID("gateway_clearing:mpesa:KES")!
            let holding = LedgerAccount.ID("escrow_holding:platform:KES")!
            _ = try await ledger.createAccounts([
                NewAccount(id: clearing, currency: .kes, code: .gatewayClearing),
                NewAccount(id: holding, currency: .kes, code: .escrowHolding, flags: [.debitsMustNotExceedCredits]),
                NewAccount(
                    id: LedgerAccount.ID("platform_revenue:platform:KES")!, currency: .kes, code: .platformRevenue),
                NewAccount(
                    id: LedgerAccount.ID("seller_payable:usr_seller:KES")!, currency: .kes, code: .sellerPayable),
            ])
            let captured = try await ledger.submit(
                NewTransfer(
                    id: LedgerTransfer.ID("pay_x.captured")!,
                    operation: .single(
                        debit: clearing, credit: holding, amount: Money(minorUnits: 10_000, currency: .kes)),
                    code: "payment_captured"))
            #expect(captured.transfer != nil)
            let link = "plink_" + UUIDv7(unixMilliseconds: 1, sequence: 0, random: 1).base32
            let escrow = "esc_" + UUIDv7(unixMilliseconds: 1, sequence: 0, random: 2).base32
            try await database.transaction { connection in
                try await connection.raw(
                    """
                    INSERT INTO payment_links (id, seller_reference, title, price, currency, quantity_sold, status,
                        created_at, updated_at)
                    VALUES (\(bind: link), 'usr_seller', 'Basket', 10000, 'KES', 1, 'active', 0, 0)
                    """
                ).run()
                try await connection.raw(
                    """
                    INSERT INTO escrows (id, link_id, seller_reference, buyer_phone, buyer_name, title, amount, fee,
                        currency, status, payment_id, gateway, release_due_at, created_at, updated_at)
                    VALUES (\(bind: escrow), \(bind: link), 'usr_seller', '+254700000000', 'Amina', 'Basket', 10000, 250,
                        'KES', 'delivered', 'pay_x', 'mpesa', 1000, 0, 0)
                    """
                ).run()
            }
            await database.shutdown()
            let first = try Self.run(["settle", "--now", "--data-dir", "data"], directory: directory)
            #expect(first.status == 0, "\(first.error)")
            #expect(first.output.contains("settled: 1 escrow(s) released, 0 owed refund(s) created"), "\(first.output)")
            let second = try Self.run(["settle", "--now", "--data-dir", "data"], directory: directory)
            #expect(second.output.contains("settled: 0 escrow(s) released"), "\(second.output)")
            let verified = try Self.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(verified.status == 0, "\(verified.output)")
            #expect(verified.output.contains("3 transfers"), "\(verified.output)")
        }
    }

    @Test("demo runs the S4 story on a fresh SQLite file with the sandbox and exits 0 with the ledger verified")
    func demo() async throws {
        try await Self.withDirectory { directory in
            let run = try Self.run(["demo", "--data-dir", "data"], directory: directory)
            #expect(run.status == 0, "\(run.output)\n\(run.error)")
            for step in [
                "1. seller signs in", "3. buyer pays by M-Pesa STK push", "7. buyer confirms, funds released",
                "8. seller is paid out", "9. kauri ledger verify .................... ok: ledger ok",
            ] {
                #expect(run.output.contains(step), "\(run.output)")
            }
            #expect(run.output.contains("demo complete: every step passed"))
        }
    }

    @Test("processes migrating one SQLite file at the same moment apply each migration exactly once")
    func concurrentMigrateProcesses() async throws {
        try await Self.withDirectory { directory in
            let launched = try (0..<4).map { _ in
                try Self.launch(["migrate", "--data-dir", "data"], directory: directory)
            }
            var applied = 0
            for (process, out, _) in launched {
                process.waitUntilExit()
                #expect(process.terminationStatus == 0)
                let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
                applied += text.components(separatedBy: "applied platform/1 ").count - 1
            }
            #expect(applied == 1)
        }
    }

    @Test("serve --help lists every setting with its environment variable")
    func help() async throws {
        try await Self.withDirectory { directory in
            let run = try Self.run(["serve", "--help"], directory: directory)
            #expect(run.status == 0)
            for name in [
                "--host", "KAURI_HOST", "--port", "KAURI_PORT", "--data-dir", "KAURI_DATA_DIR",
                "--database-url", "DATABASE_URL", "--database-pool-size", "--mode", "--cors-allowed-origins",
                "--request-body-bytes-max", "--access-log", "--log-level", "--shutdown-grace-seconds", "--config",
            ] {
                #expect(run.output.contains(name), "\(name)")
            }
        }
    }
}
