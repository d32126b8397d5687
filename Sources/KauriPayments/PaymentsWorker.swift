import Logging
import ServiceLifecycle

/// The payments background service: applies stored webhooks as soon as they arrive (in bounded batches) and
/// reconciles waiting payments and refunds every `reconcileInterval`.
public struct PaymentsWorker: Service {
    let payments: Payments
    let reconcileInterval: Duration
    let idleWait: Duration

    /// Works for `payments`.
    public init(payments: Payments, reconcileInterval: Duration = .seconds(5), idleWait: Duration = .seconds(1)) {
        self.payments = payments
        self.reconcileInterval = reconcileInterval
        self.idleWait = idleWait
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.applyLoop() }
            group.addTask { await self.reconcileLoop() }
        }
    }

    private func applyLoop() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                // Keep going while full batches come back, so a backlog drains at once.
                while try await self.payments.applyDueEvents() == self.payments.configuration.inboxBatchSize {}
            } catch {
                self.payments.logger.warning(
                    "applying webhook events failed; retrying", metadata: ["error": "\(error)"])
            }
            await self.payments.waitForInbox(milliseconds: Int(self.idleWait.components.seconds * 1000))
        }
    }

    private func reconcileLoop() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                while try await self.payments.reconcileDue() >= self.payments.configuration.reconcileBatchSize {}
            } catch {
                self.payments.logger.warning("payment reconciliation failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.reconcileInterval) }
        }
    }
}
