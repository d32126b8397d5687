import SQLKit
import Synchronization

/// Group commit for SQLite write transactions: transactions that queue while one commits run back to back inside a
/// single `BEGIN IMMEDIATE … COMMIT`, each in its own savepoint, so one fsync makes many of them durable.
///
/// SQLite has one writer, so write transactions already ran one after another; batching changes only how many
/// commits they pay for. Each caller still gets its own outcome: a body that throws is rolled back to its savepoint
/// (its writes undone, the others' kept) and its error returned; a body that returns gets its value only once the
/// shared COMMIT succeeded. If the batch itself fails (BEGIN, a savepoint, COMMIT), it is rolled back whole and every
/// caller in it gets that error — nothing of theirs was written. Batches form from whatever arrived during the
/// previous commit: an idle system commits a lone transaction at once, with no savepoint and no added delay.
final class SQLiteWriteBatcher: Sendable {
    typealias Body = @Sendable (any SQLDatabase) async throws -> any Sendable
    /// Runs one batch: BEGIN, the bodies, COMMIT, on one connection holding the write lock.
    typealias Runner = @Sendable ([Body]) async throws -> [Result<any Sendable, any Error>]

    private struct Job {
        var body: Body
        var continuation: CheckedContinuation<any Sendable, any Error>
    }

    private struct State {
        var queue: [Job] = []
        var isDraining = false
    }

    private let state = Mutex(State())
    private let batchSizeMax: Int
    private let runner: Runner

    init(batchSizeMax: Int, runner: @escaping Runner) {
        precondition(batchSizeMax >= 1, "a batch holds at least one transaction")
        self.batchSizeMax = batchSizeMax
        self.runner = runner
    }

    /// Queues `body` and waits for the batch holding it to commit.
    func submit<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let value = try await withCheckedThrowingContinuation { continuation in
            let startDrain = self.state.withLock { state in
                state.queue.append(Job(body: { try await body($0) }, continuation: continuation))
                if state.isDraining { return false }
                state.isDraining = true
                return true
            }
            if startDrain {
                Task { await self.drain() }
            }
        }
        guard let typed = value as? T else { preconditionFailure("a batched transaction returns its own type") }
        return typed
    }

    private func drain() async {
        while let batch = self.nextBatch() {
            do {
                let outcomes = try await self.runner(batch.map(\.body))
                for (job, outcome) in zip(batch, outcomes) {
                    job.continuation.resume(with: outcome)
                }
            } catch {
                for job in batch {
                    job.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Up to `batchSizeMax` queued jobs, oldest first; nil (and the drain ends) when the queue is empty.
    private func nextBatch() -> [Job]? {
        self.state.withLock { state in
            guard !state.queue.isEmpty else {
                state.isDraining = false
                return nil
            }
            let count = min(self.batchSizeMax, state.queue.count)
            let batch = Array(state.queue.prefix(count))
            state.queue.removeFirst(count)
            return batch
        }
    }
}
