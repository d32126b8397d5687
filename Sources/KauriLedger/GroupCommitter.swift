import Logging
import Synchronization

/// Batches concurrent commit requests into one database transaction each, while every caller gets its own result.
///
/// Requests queue; one drain task at a time takes up to `batchTransfersMax` transfers' worth of whole chains
/// and commits them together. A batch forms from whatever arrived while the previous one was committing, so
/// under load one fsync covers many transfers and when idle a request commits at once (no artificial delay).
/// The wait of a request is therefore bounded by one in-flight commit plus its own.
final class GroupCommitter: Sendable {
    typealias Commit = @Sendable ([[NewTransfer]]) async throws -> [[TransferResult]]

    private struct Request {
        var chain: [NewTransfer]
        var continuation: CheckedContinuation<[TransferResult], any Error>
    }

    private struct State {
        var queue: [Request] = []
        var head = 0
        var isDraining = false
    }

    private let state = Mutex(State())
    private let batchTransfersMax: Int
    private let commit: Commit

    init(batchTransfersMax: Int, commit: @escaping Commit) {
        precondition(batchTransfersMax >= LedgerLimits.chainTransfersMax, "a batch must hold the longest chain")
        self.batchTransfersMax = batchTransfersMax
        self.commit = commit
    }

    /// Queues `chain` and waits for the batch holding it to commit.
    func submit(_ chain: [NewTransfer]) async throws -> [TransferResult] {
        try await withCheckedThrowingContinuation { continuation in
            let startDrain = self.state.withLock { state in
                state.queue.append(Request(chain: chain, continuation: continuation))
                if state.isDraining { return false }
                state.isDraining = true
                return true
            }
            if startDrain {
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while let batch = self.nextBatch() {
            do {
                let results = try await self.commit(batch.map(\.chain))
                for (request, result) in zip(batch, results) {
                    request.continuation.resume(returning: result)
                }
            } catch {
                for request in batch {
                    request.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Takes whole chains up to the transfer bound; nil (and the drain ends) when the queue is empty.
    private func nextBatch() -> [Request]? {
        self.state.withLock { state in
            guard state.head < state.queue.count else {
                state.queue.removeAll(keepingCapacity: true)
                state.head = 0
                state.isDraining = false
                return nil
            }
            var batch: [Request] = []
            var transfers = 0
            while state.head < state.queue.count {
                let next = state.queue[state.head]
                if !batch.isEmpty && transfers + next.chain.count > self.batchTransfersMax { break }
                transfers += next.chain.count
                batch.append(next)
                state.head += 1
            }
            if state.head == state.queue.count {
                state.queue.removeAll(keepingCapacity: true)
                state.head = 0
            }
            return batch
        }
    }
}
