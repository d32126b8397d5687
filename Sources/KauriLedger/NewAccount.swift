import KauriCore

/// An account to create. Creating is idempotent by id.
public struct NewAccount: Hashable, Sendable {
    /// The id (client-chosen, or derived from the chart of accounts).
    public var id: LedgerAccount.ID
    /// The one currency the account holds.
    public var currency: Currency
    /// What the account is for.
    public var code: LedgerAccount.Code
    /// Who owns it, if anyone.
    public var ownerReference: String?
    /// Balance limits and history.
    public var flags: LedgerAccount.Flags

    /// Describes an account to create.
    public init(
        id: LedgerAccount.ID, currency: Currency, code: LedgerAccount.Code, ownerReference: String? = nil,
        flags: LedgerAccount.Flags = []
    ) {
        self.id = id
        self.currency = currency
        self.code = code
        self.ownerReference = ownerReference
        self.flags = flags
    }

    /// The chart-of-accounts account with this code, owner and currency, its id derived from them.
    public static func derived(
        code: LedgerAccount.Code, owner: String?, currency: Currency, flags: LedgerAccount.Flags = []
    ) -> NewAccount? {
        LedgerAccount.ID.derived(code: code, owner: owner, currency: currency).map {
            NewAccount(id: $0, currency: currency, code: code, ownerReference: owner, flags: flags)
        }
    }
}

/// The outcome of creating one account.
public enum AccountResult: Hashable, Sendable {
    /// Created now.
    case created(LedgerAccount)
    /// An account with this id and the same fields already existed; this is it.
    case exists(LedgerAccount)
    /// Rejected; nothing was written.
    case failed(AccountError)

    /// The account, new or existing.
    public var account: LedgerAccount? {
        switch self {
        case .created(let account), .exists(let account): account
        case .failed: nil
        }
    }
}

/// Why an account was not created.
public enum AccountError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Both balance-limit flags were set; an account limits one side at most.
    case flagsAreMutuallyExclusive
    /// The owner reference is longer than `LedgerLimits.idLengthMax`.
    case ownerReferenceTooLong
    /// An account with this id exists with a different value of `field`.
    case existsWithDifferent(Field)

    /// A field compared when an id is reused.
    public enum Field: String, Hashable, Sendable {
        case currency, code, flags
        case ownerReference = "owner_reference"
    }

    /// The stable name.
    public var name: String {
        switch self {
        case .flagsAreMutuallyExclusive: "flags_are_mutually_exclusive"
        case .ownerReferenceTooLong: "owner_reference_too_long"
        case .existsWithDifferent(let field): "exists_with_different_\(field.rawValue)"
        }
    }

    public var description: String { self.name }
}
