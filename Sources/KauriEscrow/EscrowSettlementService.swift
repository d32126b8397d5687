import Logging
import ServiceLifecycle

/// Releases delivered escrows whose inspection window ended, in bounded batches, every `interval` (and at once
/// while full batches keep coming). Many instances may run against one PostgreSQL: rows are claimed with
/// `FOR UPDATE SKIP LOCKED` and each release is idempotent by its transfer ids.
public struct EscrowSettlementService: Service {
    let escrows: Escrows
    let interval: Duration

    public init(escrows: Escrows, interval: Duration = .seconds(30)) {
        self.escrows = escrows
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                while try await self.escrows.releaseDue() == self.escrows.configuration.releaseBatchSize {}
                try await self.escrows.createOwedRefunds()
                try await self.escrows.createOwedPayouts()
            } catch {
                self.escrows.logger.warning("escrow settlement pass failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
