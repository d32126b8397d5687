import AsyncHTTPClient
import KauriCore
import Logging
import Synchronization

/// What the payment simulators share: the credentials and faults, the clock, the callback sender, the record of
/// accepted operations and the scheduled completions that run once the callback delay has passed.
final class SandboxPaymentCore: Sendable {
    /// The most records kept; past it the oldest are forgotten.
    static let recordCapacity = 10_000
    /// The alphabet of generated lowercase ids.
    static let lowercaseAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    /// The alphabet of generated uppercase ids such as M-Pesa receipts.
    static let uppercaseAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    /// The credentials the simulators expect.
    let credentials: SandboxCredentials
    /// Failures to inject.
    let faults: SandboxFaults
    /// The source of the current time.
    let clock: any WallClock
    /// Sends callbacks and webhooks.
    let sender: SandboxCallbackSender
    /// Where lifecycle and delivery problems go.
    let logger: Logger

    private struct State {
        var records: [UInt64: SandboxPaymentRecord] = [:]
        var recordOrder: [UInt64] = []
        var nextRecordID: UInt64 = 1
        var createCounts: [RecordKey: Int] = [:]
        var callbackDelay: Duration
        var paystackWebhookURL: String?
        var baseURL = ""
        var scheduled: [UInt64: Task<Void, Never>] = [:]
        var nextTaskID: UInt64 = 1
    }

    /// Identifies a caller's reference at one provider.
    private struct RecordKey: Hashable {
        var provider: SandboxProvider
        var reference: String
    }

    private let state: Mutex<State>

    /// A core for simulators that send callbacks with `httpClient` after `callbackDelay`.
    init(
        credentials: SandboxCredentials, faults: SandboxFaults, clock: any WallClock, httpClient: HTTPClient,
        callbackDelay: Duration, paystackWebhookURL: String?, logger: Logger
    ) {
        self.credentials = credentials
        self.faults = faults
        self.clock = clock
        self.logger = logger
        self.sender = SandboxCallbackSender(httpClient: httpClient, faults: faults, logger: logger)
        self.state = Mutex(State(callbackDelay: callbackDelay, paystackWebhookURL: paystackWebhookURL))
    }

    /// Every record kept, oldest first.
    var records: [SandboxPaymentRecord] {
        self.state.withLock { state in state.recordOrder.compactMap { state.records[$0] } }
    }

    /// How many create calls the provider accepted for `reference`.
    func createCount(provider: SandboxProvider, reference: String) -> Int {
        self.state.withLock { $0.createCounts[RecordKey(provider: provider, reference: reference)] ?? 0 }
    }

    /// Records an accepted create call and returns the record's id, for later status changes.
    func record(
        _ provider: SandboxProvider, _ kind: SandboxPaymentRecord.Kind, reference: String, providerReference: String,
        amount: Int64, currency: String, phone: String?, status: SandboxPaymentRecord.Status = .pending
    ) -> UInt64 {
        let record = SandboxPaymentRecord(
            provider: provider, kind: kind, reference: reference, providerReference: providerReference,
            amount: amount, currency: currency, phone: phone, status: status, createdAt: self.clock.now())
        return self.state.withLock { state in
            let id = state.nextRecordID
            state.nextRecordID += 1
            state.records[id] = record
            state.recordOrder.append(id)
            state.createCounts[RecordKey(provider: provider, reference: reference), default: 0] += 1
            if state.recordOrder.count > Self.recordCapacity {
                state.records[state.recordOrder.removeFirst()] = nil
            }
            return id
        }
    }

    /// Moves a record to `status`; a forgotten record stays forgotten.
    func update(record id: UInt64, status: SandboxPaymentRecord.Status) {
        self.state.withLock { $0.records[id]?.status = status }
    }

    /// How long after accepting an operation its outcome happens and its callbacks go out.
    var callbackDelay: Duration {
        get { self.state.withLock { $0.callbackDelay } }
        set { self.state.withLock { $0.callbackDelay = newValue } }
    }

    /// Where Paystack webhooks go; Paystack's is set in its dashboard, so this one is set on the sandbox.
    var paystackWebhookURL: String? {
        get { self.state.withLock { $0.paystackWebhookURL } }
        set { self.state.withLock { $0.paystackWebhookURL = newValue } }
    }

    /// The server's root, e.g. `http://127.0.0.1:52114`, known once it listens.
    var baseURL: String {
        get { self.state.withLock { $0.baseURL } }
        set { self.state.withLock { $0.baseURL = newValue } }
    }

    /// Runs `work` once the callback delay has passed, unless the sandbox shuts down first.
    func afterCallbackDelay(_ work: @escaping @Sendable () async -> Void) {
        self.state.withLock { state in
            let id = state.nextTaskID
            state.nextTaskID += 1
            let delay = state.callbackDelay
            state.scheduled[id] = Task {
                defer { self.finished(task: id) }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return
                }
                await work()
            }
        }
    }

    /// Waits until every scheduled completion, with its callbacks, has run.
    func waitForScheduled() async {
        while true {
            let tasks = self.state.withLock { Array($0.scheduled.values) }
            guard !tasks.isEmpty else { return }
            for task in tasks {
                await task.value
            }
        }
    }

    /// Cancels every scheduled completion and waits for them to stop.
    func cancelScheduled() async {
        let tasks = self.state.withLock { Array($0.scheduled.values) }
        for task in tasks {
            task.cancel()
        }
        for task in tasks {
            await task.value
        }
    }

    /// `count` random characters of `alphabet`.
    static func randomString(_ count: Int, from alphabet: [Character]) -> String {
        String((0..<count).map { _ in alphabet.randomElement()! })
    }

    /// `count` random decimal digits.
    static func randomDigits(_ count: Int) -> String {
        String((0..<count).map { _ in Character(String(Int.random(in: 0...9))) })
    }

    private func finished(task id: UInt64) {
        self.state.withLock { _ = $0.scheduled.removeValue(forKey: id) }
    }
}
