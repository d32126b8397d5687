import Logging
import ServiceLifecycle

/// A background service that voids pending transfers whose timeout passed, every `interval`.
///
/// Posting or voiding an expired pending transfer already fails with `pending_transfer_expired` from the moment
/// it expires; this service releases the reserved amounts from the pending balances.
public struct PendingExpiryService: Service {
    let ledger: Ledger
    let interval: Duration
    let logger: Logger

    /// Sweeps `ledger` every `interval`.
    public init(ledger: Ledger, interval: Duration = .seconds(5), logger: Logger) {
        self.ledger = ledger
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                // Keep sweeping while full sweeps come back, so a backlog drains without waiting an interval each.
                while try await self.ledger.expirePendingTransfers() == LedgerLimits.expirySweepMax {}
            } catch {
                self.logger.warning("pending expiry sweep failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
