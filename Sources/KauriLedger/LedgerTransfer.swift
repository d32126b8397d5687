import KauriCore

/// A committed transfer: an immutable movement of `amount` from the debit account to the credit account.
///
/// Corrections are new transfers; a stored transfer never changes and is never deleted.
public struct LedgerTransfer: Hashable, Sendable {
    /// The client-chosen id; at most one transfer has it.
    public var id: ID
    /// The account debited.
    public var debitAccountID: LedgerAccount.ID
    /// The account credited.
    public var creditAccountID: LedgerAccount.ID
    /// The amount moved (or reserved, or posted, or released), positive.
    public var amount: Money
    /// What the transfer is for (`payment_capture`, `escrow_release`), chosen by the module that posts it.
    public var code: String
    /// A free reference (the payment or escrow id).
    public var reference: String?
    /// Single-phase, pending, or the resolution of a pending transfer.
    public var kind: Kind
    /// The pending transfer this one posts, voids or expires.
    public var pendingID: ID?
    /// For a pending transfer: when it expires unless posted or voided first.
    public var expiresAt: Timestamp?
    /// When the ledger committed it.
    public var timestamp: Timestamp

    /// Creates a transfer value.
    public init(
        id: ID, debitAccountID: LedgerAccount.ID, creditAccountID: LedgerAccount.ID, amount: Money, code: String,
        reference: String?, kind: Kind, pendingID: ID?, expiresAt: Timestamp?, timestamp: Timestamp
    ) {
        self.id = id
        self.debitAccountID = debitAccountID
        self.creditAccountID = creditAccountID
        self.amount = amount
        self.code = code
        self.reference = reference
        self.kind = kind
        self.pendingID = pendingID
        self.expiresAt = expiresAt
        self.timestamp = timestamp
    }

    /// What a transfer does to balances.
    public enum Kind: String, Hashable, Sendable, CaseIterable, Codable {
        /// Moves posted balances at once.
        case single
        /// Reserves the amount in the pending balances.
        case pending
        /// Resolves a pending transfer: releases its reservation and posts `amount` (≤ the pending amount).
        case post
        /// Resolves a pending transfer by releasing its reservation; nothing is posted.
        case void
        /// The expiry service's void of a pending transfer whose timeout passed.
        case expire
    }

    /// A transfer id: same rules as account ids.
    public struct ID: LedgerIdentifierText {
        /// The id text.
        public let rawValue: String

        /// Validates `rawValue`; nil when it is empty, too long or has other characters.
        public init?(_ rawValue: String) {
            guard LedgerIdentifier.isValid(rawValue) else { return nil }
            self.rawValue = rawValue
        }
    }
}

/// A transfer to create: what a caller submits.
public struct NewTransfer: Hashable, Sendable {
    /// The client-chosen id that makes the request idempotent.
    public var id: LedgerTransfer.ID
    /// What to do.
    public var operation: Operation
    /// What the transfer is for, 1–40 characters of `a–z 0–9 _`.
    public var code: String
    /// A free reference, at most `LedgerLimits.referenceLengthMax` bytes.
    public var reference: String?

    /// Creates a request.
    public init(id: LedgerTransfer.ID, operation: Operation, code: String, reference: String? = nil) {
        self.id = id
        self.operation = operation
        self.code = code
        self.reference = reference
    }

    /// The reference as stored: an empty reference is no reference.
    var storedReference: String? {
        guard let reference = self.reference, !reference.isEmpty else { return nil }
        return reference
    }

    /// The operation.
    public enum Operation: Hashable, Sendable {
        /// Move `amount` from `debit` to `credit` now.
        case single(debit: LedgerAccount.ID, credit: LedgerAccount.ID, amount: Money)
        /// Reserve `amount`; expires after `timeoutSeconds` if given (1…`pendingTimeoutSecondsMax`).
        case pending(debit: LedgerAccount.ID, credit: LedgerAccount.ID, amount: Money, timeoutSeconds: Int64?)
        /// Post a pending transfer: all of it (`amount` nil) or part; the rest is released.
        case post(pendingID: LedgerTransfer.ID, amount: Int64?)
        /// Void a pending transfer: release all of it.
        case void(pendingID: LedgerTransfer.ID)
        /// Release a pending transfer whose timeout has passed (the expiry service's operation).
        case expire(pendingID: LedgerTransfer.ID)
    }
}

/// The outcome of one transfer request.
public enum TransferResult: Hashable, Sendable {
    /// Committed now.
    case created(LedgerTransfer)
    /// A transfer with this id and the same fields was committed before; this is it.
    case exists(LedgerTransfer)
    /// Rejected; nothing was written for it (nor for any transfer linked with it).
    case failed(TransferError)

    /// The committed transfer, new or existing.
    public var transfer: LedgerTransfer? {
        switch self {
        case .created(let transfer), .exists(let transfer): transfer
        case .failed: nil
        }
    }

    /// The error, if it failed.
    public var error: TransferError? {
        if case .failed(let error) = self { return error }
        return nil
    }
}

/// Why a transfer was rejected. Each case has a stable snake_case name used in API error codes.
public enum TransferError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The amount is zero or negative.
    case amountMustBePositive
    /// The code is empty, too long or has characters other than `a–z 0–9 _`.
    case codeInvalid
    /// The reference is longer than `LedgerLimits.referenceLengthMax`.
    case referenceTooLong
    /// The pending timeout is below 1 second or above `LedgerLimits.pendingTimeoutSecondsMax`.
    case timeoutInvalid
    /// Debit and credit are the same account.
    case accountsMustBeDifferent
    /// The debit account does not exist.
    case debitAccountNotFound
    /// The credit account does not exist.
    case creditAccountNotFound
    /// The transfer's currency differs from one of the accounts'.
    case currencyMismatch
    /// The debit account's `debits_must_not_exceed_credits` limit would break.
    case exceedsCredits
    /// The credit account's `credits_must_not_exceed_debits` limit would break.
    case exceedsDebits
    /// A balance would overflow Int64.
    case overflow
    /// The pending transfer to post or void does not exist.
    case pendingTransferNotFound
    /// The transfer named as pending is not a pending transfer.
    case pendingTransferNotPending
    /// The pending transfer was already posted.
    case pendingTransferAlreadyPosted
    /// The pending transfer was already voided.
    case pendingTransferAlreadyVoided
    /// The pending transfer's timeout passed.
    case pendingTransferExpired
    /// An expiry was requested for a pending transfer whose timeout has not passed (or that has none).
    case pendingTransferNotExpired
    /// The amount to post is larger than the pending amount.
    case exceedsPendingTransferAmount
    /// A transfer with this id exists with a different value of `field`.
    case existsWithDifferent(Field)
    /// A transfer linked with this one failed, so this one was not applied.
    case linkedEventFailed

    /// A field compared when an id is reused.
    public enum Field: String, Hashable, Sendable, CaseIterable {
        case debitAccountID = "debit_account_id"
        case creditAccountID = "credit_account_id"
        case amount
        case currency
        case code
        case reference
        case kind
        case pendingID = "pending_id"
        case timeout
    }

    /// The stable name: `exceeds_credits`, `exists_with_different_amount`.
    public var name: String {
        switch self {
        case .amountMustBePositive: "amount_must_be_positive"
        case .codeInvalid: "code_invalid"
        case .referenceTooLong: "reference_too_long"
        case .timeoutInvalid: "timeout_invalid"
        case .accountsMustBeDifferent: "accounts_must_be_different"
        case .debitAccountNotFound: "debit_account_not_found"
        case .creditAccountNotFound: "credit_account_not_found"
        case .currencyMismatch: "currency_mismatch"
        case .exceedsCredits: "exceeds_credits"
        case .exceedsDebits: "exceeds_debits"
        case .overflow: "overflow"
        case .pendingTransferNotFound: "pending_transfer_not_found"
        case .pendingTransferNotPending: "pending_transfer_not_pending"
        case .pendingTransferAlreadyPosted: "pending_transfer_already_posted"
        case .pendingTransferAlreadyVoided: "pending_transfer_already_voided"
        case .pendingTransferExpired: "pending_transfer_expired"
        case .pendingTransferNotExpired: "pending_transfer_not_expired"
        case .exceedsPendingTransferAmount: "exceeds_pending_transfer_amount"
        case .existsWithDifferent(let field): "exists_with_different_\(field.rawValue)"
        case .linkedEventFailed: "linked_event_failed"
        }
    }

    public var description: String { self.name }
}
