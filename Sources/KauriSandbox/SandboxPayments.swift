import AsyncHTTPClient
import Hummingbird
import KauriCore
import Logging

/// The payment simulators of a sandbox server — Paystack under `/paystack`, Daraja under `/daraja`, PayHero under
/// `/payhero/api/v2` — and what tests need to see and steer them: every operation they accepted, how many create
/// calls each reference got, the callback delay and Paystack's webhook URL.
///
/// Outcomes are scripted by the payer's phone number; docs/SANDBOX.md has the table.
public final class SandboxPayments: Sendable {
    /// How long after accepting an operation its outcome happens and its callbacks go out, unless changed.
    public static let callbackDelayDefault: Duration = .seconds(1)

    private let core: SandboxPaymentCore
    private let paystack: PaystackSimulator
    private let daraja: DarajaSimulator
    private let payhero: PayHeroSimulator

    /// Simulators sending callbacks with `httpClient`, which the server owns.
    init(
        credentials: SandboxCredentials, faults: SandboxFaults, httpClient: HTTPClient, clock: any WallClock,
        callbackDelay: Duration, paystackWebhookURL: String?, logger: Logger
    ) {
        self.core = SandboxPaymentCore(
            credentials: credentials, faults: faults, clock: clock, httpClient: httpClient,
            callbackDelay: callbackDelay, paystackWebhookURL: paystackWebhookURL, logger: logger)
        self.paystack = PaystackSimulator(core: self.core)
        self.daraja = DarajaSimulator(core: self.core)
        self.payhero = PayHeroSimulator(core: self.core)
    }

    /// Every operation the simulators accepted, oldest first, with its current status.
    public var all: [SandboxPaymentRecord] { self.core.records }

    /// The operations one provider accepted, oldest first.
    public func records(for provider: SandboxProvider) -> [SandboxPaymentRecord] {
        self.all.filter { $0.provider == provider }
    }

    /// The operations one provider accepted for one of the caller's references, oldest first.
    public func records(provider: SandboxProvider, reference: String) -> [SandboxPaymentRecord] {
        self.all.filter { $0.provider == provider && $0.reference == reference }
    }

    /// How many create calls (initialize, charge, STK push, refund, transfer, B2C, payment, withdrawal) `provider`
    /// accepted for `reference`; a create refused as a duplicate is not counted. "Exactly one charge at the provider"
    /// is `createCount(...) == 1`.
    public func createCount(provider: SandboxProvider, reference: String) -> Int {
        self.core.createCount(provider: provider, reference: reference)
    }

    /// How long after accepting an operation its outcome happens and its callbacks go out.
    public var callbackDelay: Duration { self.core.callbackDelay }

    /// Sets how long after accepting an operation its outcome happens and its callbacks go out; tests use zero or a
    /// few milliseconds. Operations already accepted keep the delay they were scheduled with.
    public func setCallbackDelay(_ delay: Duration) {
        precondition(delay >= .zero, "a callback delay is not negative")
        self.core.callbackDelay = delay
    }

    /// Where Paystack webhooks go; `nil` sends none.
    public var paystackWebhookURL: String? { self.core.paystackWebhookURL }

    /// Sets where Paystack webhooks go, as Paystack's dashboard does; `nil` sends none.
    public func setPaystackWebhookURL(_ url: String?) {
        self.core.paystackWebhookURL = url
    }

    /// Completes the Paystack hosted checkout of `reference` as the customer's click on Pay (`succeed`) or Decline
    /// does: the transaction becomes `success` or `failed` at once, and on success `charge.success` is sent after the
    /// callback delay. A checkout already completed is left as it is.
    /// - Precondition: a checkout with this reference was initialized.
    public func completeCheckout(reference: String, succeed: Bool) async {
        let transaction = self.paystack.completeCheckout(reference: reference, succeed: succeed)
        precondition(transaction != nil, "no Paystack checkout has the reference \(reference)")
    }

    /// Waits until every outcome scheduled so far has happened and its callbacks have been delivered (or given up
    /// on). Outcomes that never complete (phone `…0004`) schedule nothing.
    public func waitForScheduledCallbacks() async {
        await self.core.waitForScheduled()
    }

    /// Adds every payment simulator's routes to `router`.
    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        self.paystack.addRoutes(to: router)
        self.daraja.addRoutes(to: router)
        self.payhero.addRoutes(to: router)
    }

    /// Tells the simulators the server's root once it listens, for Paystack's `authorization_url`.
    func setBaseURL(_ baseURL: String) {
        self.core.baseURL = baseURL
    }

    /// Cancels the outcomes and callbacks still scheduled, and waits for them to stop.
    func cancelScheduled() async {
        await self.core.cancelScheduled()
    }
}
