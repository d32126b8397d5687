import KauriCore

/// Identifiers of payments: `pay_…`.
public enum PaymentIDKind: IDKind {
    public static let prefix = "pay"
}

/// Identifiers of refunds: `re_…`.
public enum RefundIDKind: IDKind {
    public static let prefix = "re"
}

/// A payment intent: money a customer is asked to pay through one gateway, and where it stands.
public struct Payment: Sendable, Hashable {
    public typealias ID = PrefixedID<PaymentIDKind>

    /// How the customer pays.
    public enum Method: Sendable, Hashable {
        /// On the gateway's hosted page, reached by redirect.
        case redirect
        /// By approving a prompt on their phone (STK push, mobile-money charge).
        case mobileMoney(phone: PhoneNumber, provider: MobileMoneyProvider)

        /// `redirect` or `mobile_money`.
        public var type: String {
            switch self {
            case .redirect: "redirect"
            case .mobileMoney: "mobile_money"
            }
        }
    }

    /// What the customer has to do next.
    public enum NextAction: Sendable, Hashable {
        /// Open this URL (the gateway's checkout page).
        case redirect(url: String)
        /// Approve the prompt on the phone.
        case confirmOnPhone(displayText: String)
    }

    /// Why a payment is held for an operator's review instead of being credited.
    public enum ReviewReason: String, Sendable, Hashable, Codable {
        /// The gateway reported a different amount or currency from the intent.
        case amountMismatch = "amount_mismatch"
        /// The gateway reported success after it had reported a final failure.
        case conflictingOutcome = "conflicting_outcome"
    }

    public var id: ID
    /// Who created it (the caller's owner reference).
    public var ownerReference: String
    /// The gateway it goes through.
    public var gateway: GatewayName
    public var amount: Money
    public var method: Method
    public var status: PaymentStatus
    /// The customer's email, when given.
    public var customerEmail: String?
    /// The customer's name, when given.
    public var customerName: String?
    /// The caller's own reference (an order number).
    public var reference: String?
    /// Caller-supplied key–value pairs, returned as given.
    public var metadata: [String: String]
    /// Where the customer lands after a redirect checkout.
    public var returnURL: String?
    /// What the customer does next while the payment waits for them.
    public var nextAction: NextAction?
    /// The reference the gateway sees (derived from the id).
    public var gatewayReference: GatewayReference
    /// The gateway's id of the attempt (CheckoutRequestID, access code…), once known.
    public var providerReference: String?
    /// The gateway's transaction id or receipt, once paid.
    public var providerTransactionID: String?
    /// Why it failed, was cancelled or expired.
    public var failure: PaymentFailure?
    /// Set when the gateway's news could not be credited and an operator must look.
    public var reviewReason: ReviewReason?
    /// The ledger account the money goes to on success.
    public var creditAccountID: String
    /// How much has been refunded (succeeded refunds), and how much is reserved by refunds in flight.
    public var amountRefunded: Int64
    public var amountRefundPending: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var succeededAt: Timestamp?
    /// After this the payment expires unless the gateway says it succeeded.
    public var expiresAt: Timestamp
    /// How far the call that started the payment at the gateway got.
    public var gatewayCall: GatewayCallState
    /// The `Idempotency-Key` of the request that created it.
    public var idempotencyKey: String?
    /// Status checks made by reconciliation so far, and when the next is due (nil: none planned).
    public var checkAttempts: Int
    public var nextCheckAt: Timestamp?

    /// What can still be refunded.
    public var amountRefundable: Int64 {
        self.status == .succeeded ? self.amount.minorUnits - self.amountRefunded - self.amountRefundPending : 0
    }
}

/// How far a call that creates something at a gateway got, recorded so a retry after a crash resumes.
public enum GatewayCallState: String, Sendable, Hashable, Codable {
    /// Not answered yet: the call may be in flight, or the server died during it.
    case pending
    /// Answered; the outcome is recorded.
    case sent
    /// No usable answer (timeout, 5xx, unreadable): the gateway may or may not have acted; reconciliation asks.
    case unknown
}

/// Why a payment did not succeed, in the gateway's words and ours.
public struct PaymentFailure: Sendable, Hashable, Codable {
    /// A stable code: `declined`, `cancelled`, `expired`, `gateway_error`, or the provider's own code prefixed
    /// with the gateway (`mpesa.1032`).
    public var code: String
    /// Words for a person.
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// A payment's state. `requires_action → processing → succeeded | failed | cancelled | expired`.
public enum PaymentStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// The customer must act: open the checkout page or approve the phone prompt.
    case requiresAction = "requires_action"
    /// Waiting for the gateway's outcome (including when our call to it gave no answer).
    case processing
    case succeeded
    case failed
    case cancelled
    case expired

    /// Whether no further change is expected.
    public var isFinal: Bool {
        switch self {
        case .requiresAction, .processing: false
        case .succeeded, .failed, .cancelled, .expired: true
        }
    }
}

/// What happened to a payment.
public enum PaymentEvent: Sendable, Hashable {
    /// The gateway accepted the request; the customer has a page to open or a prompt to answer.
    case actionRequired
    /// The gateway is working on it, or its answer is not known yet.
    case pending
    /// The gateway confirmed the money was taken.
    case succeeded
    /// The gateway declined it.
    case failed
    /// The customer cancelled, or the prompt timed out at the gateway.
    case cancelled
    /// Our deadline passed without a final answer.
    case expired
}

/// The result of applying an event to a status.
public enum PaymentTransition: Sendable, Hashable {
    /// Move to this status.
    case moveTo(PaymentStatus)
    /// Nothing changes (a repeated or stale event).
    case unchanged
    /// The event contradicts a final status (success after a reported failure): hold for review.
    case conflict
}

extension PaymentStatus {
    /// The pure transition function: what `event` does to a payment in this status.
    ///
    /// Final statuses never change; repeated news is `unchanged`; a success reported after a final failure is a
    /// `conflict` for an operator (money may have moved after all), never a silent credit.
    public func applying(_ event: PaymentEvent) -> PaymentTransition {
        switch (self, event) {
        case (.requiresAction, .actionRequired): .unchanged
        case (.requiresAction, .pending): .moveTo(.processing)
        case (.processing, .actionRequired): .moveTo(.requiresAction)
        case (.processing, .pending): .unchanged
        case (.requiresAction, .succeeded), (.processing, .succeeded): .moveTo(.succeeded)
        case (.requiresAction, .failed), (.processing, .failed): .moveTo(.failed)
        case (.requiresAction, .cancelled), (.processing, .cancelled): .moveTo(.cancelled)
        case (.requiresAction, .expired), (.processing, .expired): .moveTo(.expired)
        case (.succeeded, _): .unchanged
        case (.failed, .succeeded), (.cancelled, .succeeded), (.expired, .succeeded): .conflict
        case (.failed, _), (.cancelled, _), (.expired, _): .unchanged
        }
    }
}

/// A refund of all or part of a succeeded payment.
public struct Refund: Sendable, Hashable {
    public typealias ID = PrefixedID<RefundIDKind>

    /// A refund's state: `pending → succeeded | failed`.
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        case pending
        case succeeded
        case failed

        /// What `event` does to a refund in this status; final statuses never change.
        public func applying(_ event: Status) -> Status? {
            switch (self, event) {
            case (.pending, .pending): nil
            case (.pending, let next): next
            case (.succeeded, _), (.failed, _): nil
            }
        }
    }

    public var id: ID
    public var paymentID: Payment.ID
    public var amount: Money
    public var status: Status
    public var reason: String?
    public var gatewayReference: GatewayReference
    public var providerReference: String?
    public var failure: PaymentFailure?
    public var gatewayCall: GatewayCallState
    public var idempotencyKey: String?
    public var ownerReference: String
    public var checkAttempts: Int
    public var nextCheckAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}
