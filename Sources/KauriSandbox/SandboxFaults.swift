import Synchronization

/// Failures to inject into the simulators, so adapter tests can see outages, slowness and refused recipients.
///
/// Request faults are consumed in order, one per request to that provider, before the request is checked.
public final class SandboxFaults: Sendable {
    /// What one request to a provider meets.
    enum Fault: Sendable, Hashable {
        /// Answer this HTTP status in the provider's error style.
        case status(Int)
        /// Wait this long before handling the request normally.
        case delay(Duration)
    }

    private struct State {
        var pending: [SandboxProvider: [Fault]] = [:]
        var rejectedRecipients: Set<String> = []
    }

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

    /// Clears every fault.
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
