// Ledger commit benchmark: drives `Ledger.submit` in-process against a fresh SQLite file (synchronous=FULL) or a
// fresh PostgreSQL schema, and measures a plain one-row-per-commit loop on the same database as the baseline.
//
// Scenarios:
//   single    group commit off: every transfer is its own database transaction (concurrent on PostgreSQL,
//             serialised on SQLite).
//   group     group commit on: concurrent submissions share transactions (the default configuration).
//   baseline  one INSERT per transaction, same concurrency, same database settings: what the database can commit.
//
// Prints one JSON object per run: transfers (or rows) per second, latency percentiles in microseconds.
import ArgumentParser
import Foundation
import Histogram
import KauriCore
import KauriDatabase
import KauriLedger
import Logging
import SQLKit
import Synchronization

@main
struct KauriLedgerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kauri-ledger-bench", abstract: "Ledger commit throughput and latency.")

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case single, group, baseline
    }

    enum Engine: String, ExpressibleByArgument {
        case sqlite, postgres
    }

    @Option(help: "sqlite or postgres (postgres reads POSTGRES_URL).")
    var database: Engine = .sqlite

    @Option(help: "single, group or baseline.")
    var scenario: Scenario = .group

    @Option(help: "Concurrent submitters.")
    var concurrency = 64

    @Option(help: "Seconds to measure (after a 1 s warm-up).")
    var duration = 10.0

    @Option(help: "Accounts transfers pick from at random.")
    var accounts = 10_000

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let (database, cleanup) = try await self.openDatabase(logger: logger)
        _ = try await MigrationRunner(
            database: database, migrations: PlatformMigrations.all + LedgerMigrations.all, logger: logger
        ).migrate()
        let ledger = Ledger(
            database: database, clock: SystemClock(), logger: logger,
            configuration: .init(groupCommit: self.scenario == .group))
        let accountIDs = (0..<self.accounts).map { LedgerAccount.ID("bench\($0)")! }
        for chunk in stride(from: 0, to: accountIDs.count, by: 1_000) {
            let slice = accountIDs[chunk..<min(chunk + 1_000, accountIDs.count)]
            _ = try await ledger.createAccounts(
                slice.map { NewAccount(id: $0, currency: .kes, code: .sellerPayable) })
        }
        if self.scenario == .baseline {
            try await database.transaction { connection in
                try await connection.raw("CREATE TABLE bench_rows (id TEXT PRIMARY KEY, amount BIGINT NOT NULL)").run()
            }
        }

        let shared = Shared()
        let counter = shared
        let recording = shared
        let stop = shared
        let failures = shared
        let sink = shared
        let scenario = self.scenario
        let accountCount = self.accounts
        let clock = ContinuousClock()

        let started = clock.now
        var measuredStart = started
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<self.concurrency {
                group.addTask {
                    var random = SeededRandom(seed: UInt64(worker) &+ 1)
                    var sequence = 0
                    while !stop.stop.load(ordering: .relaxed) {
                        sequence += 1
                        let id = "w\(worker)-\(sequence)"
                        let begin = clock.now
                        switch scenario {
                        case .baseline:
                            try await database.transaction { connection in
                                try await connection.raw(
                                    "INSERT INTO bench_rows (id, amount) VALUES (\(bind: id), \(bind: Int64(1)))"
                                ).run()
                            }
                        case .single, .group:
                            let debit = accountIDs[Int(random.next() % UInt64(accountCount))]
                            var credit = accountIDs[Int(random.next() % UInt64(accountCount))]
                            if credit == debit {
                                credit =
                                    accountIDs[
                                        (Int(random.next() % UInt64(accountCount - 1)) + 1 + Int(
                                            debit.rawValue.dropFirst(5))!) % accountCount]
                            }
                            let result = try await ledger.submit(
                                NewTransfer(
                                    id: LedgerTransfer.ID(id)!,
                                    operation: .single(
                                        debit: debit, credit: credit, amount: Money(minorUnits: 100, currency: .kes)),
                                    code: "bench"))
                            if result.transfer == nil { failures.failures.add(1, ordering: .relaxed) }
                        }
                        if recording.recording.load(ordering: .relaxed) {
                            let elapsed = clock.now - begin
                            let micros =
                                elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds
                                / 1_000_000_000_000
                            shared.sink.withLock { _ = $0.record(UInt64(max(1, micros))) }
                            counter.counter.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
            try await Task.sleep(for: .seconds(1))
            recording.recording.store(true, ordering: .relaxed)
            measuredStart = clock.now
            try await Task.sleep(for: .seconds(self.duration))
            recording.recording.store(false, ordering: .relaxed)
            stop.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        // Counted only while recording, which lasted the sleep: `duration` seconds from `measuredStart`.
        _ = measuredStart
        let seconds = self.duration
        let histogram = sink.sink.withLock { $0 }
        let count = counter.counter.load(ordering: .relaxed)
        let verify = scenario == .baseline ? nil : try await LedgerVerifier.verify(database)
        let output: [String: Any] = [
            "database": self.database.rawValue, "scenario": scenario.rawValue, "concurrency": self.concurrency,
            "seconds": seconds, "committed": count, "per_second": Int(Double(count) / seconds),
            "p50_us": histogram.valueAtPercentile(50), "p99_us": histogram.valueAtPercentile(99),
            "max_us": histogram.max, "failures": failures.failures.load(ordering: .relaxed),
            "ledger_valid": verify?.isValid ?? true,
        ]
        let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        await cleanup()
    }

    func openDatabase(logger: Logger) async throws -> (Database, @Sendable () async -> Void) {
        let poolSize = max(4, min(self.concurrency, 64))
        switch self.database {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kauri-bench-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            // `single` and `baseline` measure one commit per transaction: SQLite's group commit (which the
            // application uses) is off for them; `group` is the ledger's own batching on top of it.
            let database = try Database(
                .sqlite(path: directory.appendingPathComponent("ledger.sqlite").path, poolSize: 4), logger: logger,
                sqliteGroupCommit: self.scenario == .group)
            return (
                database,
                {
                    await database.shutdown()
                    try? FileManager.default.removeItem(at: directory)
                }
            )
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["POSTGRES_URL"] else {
                throw ValidationError("set POSTGRES_URL to benchmark PostgreSQL")
            }
            let schema = "bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let admin = try Database(.postgres(url: Secret(url), poolSize: 1), logger: logger)
            try await admin.withConnection { try await $0.raw("CREATE SCHEMA \(unsafeRaw: schema)").run() }
            let database = try Database(
                .postgres(url: Secret(url), poolSize: poolSize, searchPath: [schema]), logger: logger)
            return (
                database,
                {
                    await database.shutdown()
                    try? await admin.withConnection {
                        try await $0.raw("DROP SCHEMA \(unsafeRaw: schema) CASCADE").run()
                    }
                    await admin.shutdown()
                }
            )
        }
    }
}

/// Counters the workers share.
final class Shared: Sendable {
    let counter = Atomic<Int>(0)
    let recording = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let failures = Atomic<Int>(0)
    let sink = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
}
