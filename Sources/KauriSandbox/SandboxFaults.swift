import Synchronization

/// Failures to inject into the simulators, so adapter tests can see outages, slowness, refused recipients and
/// misbehaving callbacks.
///
/// Request faults are consumed in order, one per request to that provider, before the request is checked.
/// Callback faults are consumed by the next callback (or, for `reverseNextCallbacks`, the next payment's batch of
/// callbacks) the provider sends.
public final class SandboxFaults: Sendable {
    /// What one request to a provider meets.
    enum Fault: Sendable, Hashable {
        /// Answer this HTTP status in the provider's error style.
        case status(Int)
        /// Wait this long before handling the request normally.
        case delay(Duration)
    }

    /// What one callback meets on its way out.
    struct CallbackFault: Sendable, Hashable {
        /// How many times the callback is delivered, concurrently; 1 when not duplicated.
        var deliveryCount = 1
        /// Whether the signature is made with a wrong key.
        var corruptsSignature = false
        /// Whether the callback is never sent.
        var drops = false
    }

    /// The callback faults waiting for one provider's callbacks.
    private struct CallbackFaultQueue {
        /// Each element duplicates one callback that many times.
        var duplicateCounts: [Int] = []
        /// How many callbacks to come are signed with a wrong key.
        var corruptSignatureCount = 0
        /// How many callbacks to come are dropped.
        var dropCount = 0
        /// How many batches of callbacks to come are delivered in reverse order.
        var reverseCount = 0
    }

    private struct State {
        var pending: [SandboxProvider: [Fault]] = [:]
        var rejectedRecipients: Set<String> = []
        var callbacks: [SandboxProvider: CallbackFaultQueue] = [:]
    }

    /// The most deliveries `duplicateNextCallback` asks for, so a typo cannot flood a receiver.
    public static let duplicateDeliveryCountMax = 50

    private let state = Mutex(State())

    /// Faults that do nothing yet.
    public init() {}

    /// The next `count` requests to `provider` answer `status` in the provider's error style.
    public func failNext(provider: SandboxProvider, count: Int = 1, status: Int) {
        precondition(count >= 0 && (100...599).contains(status), "a fault needs a count ≥ 0 and an HTTP status")
        self.add(Array(repeating: .status(status), count: count), for: provider)
    }

    /// The next `count` requests to `provider` wait `duration` before being handled, to trip client timeouts.
    public func delayNext(provider: SandboxProvider, count: Int = 1, by duration: Duration) {
        precondition(count >= 0, "a fault needs a count ≥ 0")
        self.add(Array(repeating: .delay(duration), count: count), for: provider)
    }

    /// Every provider refuses `recipient` from now on as the real one refuses a bad or blocked recipient
    /// (Hubtel: a non-zero `status`; Twilio: error 21211; Africa's Talking: recipient status 403; Resend: 422).
    /// Numbers match with or without the `+`.
    public func rejectRecipient(_ recipient: String) {
        self.state.withLock { _ = $0.rejectedRecipients.insert(Self.normalized(recipient)) }
    }

    /// The next callback or webhook `provider` sends is delivered `times` times, all at once, as a provider that
    /// retries while the first delivery is still in flight does.
    public func duplicateNextCallback(provider: SandboxProvider, times: Int = 2) {
        precondition(
            (1...Self.duplicateDeliveryCountMax).contains(times), "a duplicate fault needs 1 to 50 deliveries")
        self.state.withLock { $0.callbacks[provider, default: CallbackFaultQueue()].duplicateCounts.append(times) }
    }

    /// The next webhook `provider` sends carries a signature made with a wrong key. Only Paystack signs its
    /// webhooks (`x-paystack-signature`), so only `.paystack` is accepted.
    public func corruptNextCallbackSignature(provider: SandboxProvider) {
        precondition(provider == .paystack, "only Paystack signs its webhooks")
        self.state.withLock { $0.callbacks[provider, default: CallbackFaultQueue()].corruptSignatureCount += 1 }
    }

    /// The next callback or webhook `provider` would send is never sent; the payment's state still changes, so
    /// only the status APIs tell.
    public func dropNextCallback(provider: SandboxProvider) {
        self.state.withLock { $0.callbacks[provider, default: CallbackFaultQueue()].dropCount += 1 }
    }

    /// The next payment whose outcome `provider` reports with several callbacks (a Paystack refund's
    /// `refund.pending` then `refund.processed`) delivers them in reverse order. A payment with a single callback
    /// consumes the fault unchanged.
    public func reverseNextCallbacks(provider: SandboxProvider) {
        self.state.withLock { $0.callbacks[provider, default: CallbackFaultQueue()].reverseCount += 1 }
    }

    /// Clears every fault, request and callback alike.
    public func reset() {
        self.state.withLock { $0 = State() }
    }

    /// Takes the next fault for `provider`, if any.
    func take(_ provider: SandboxProvider) -> Fault? {
        self.state.withLock { state in
            guard var faults = state.pending[provider], !faults.isEmpty else { return nil }
            let fault = faults.removeFirst()
            state.pending[provider] = faults
            return fault
        }
    }

    /// Takes what the next callback of `provider` meets: each kind of callback fault waiting is consumed once.
    func takeCallbackFault(_ provider: SandboxProvider) -> CallbackFault {
        self.state.withLock { state in
            guard var queue = state.callbacks[provider] else { return CallbackFault() }
            var fault = CallbackFault()
            if !queue.duplicateCounts.isEmpty {
                fault.deliveryCount = queue.duplicateCounts.removeFirst()
            }
            if queue.corruptSignatureCount > 0 {
                queue.corruptSignatureCount -= 1
                fault.corruptsSignature = true
            }
            if queue.dropCount > 0 {
                queue.dropCount -= 1
                fault.drops = true
            }
            state.callbacks[provider] = queue
            return fault
        }
    }

    /// Whether the next batch of callbacks of `provider` goes out in reverse order; consumes the fault.
    func takeReverseCallbacks(_ provider: SandboxProvider) -> Bool {
        self.state.withLock { state in
            guard let count = state.callbacks[provider]?.reverseCount, count > 0 else { return false }
            state.callbacks[provider]?.reverseCount = count - 1
            return true
        }
    }

    /// Whether `recipient` is to be refused.
    func isRejected(_ recipient: String) -> Bool {
        let normalized = Self.normalized(recipient)
        return self.state.withLock { $0.rejectedRecipients.contains(normalized) }
    }

    private func add(_ faults: [Fault], for provider: SandboxProvider) {
        self.state.withLock { $0.pending[provider, default: []].append(contentsOf: faults) }
    }

    private static func normalized(_ recipient: String) -> String {
        recipient.hasPrefix("+") ? String(recipient.dropFirst()).lowercased() : recipient.lowercased()
    }
}
