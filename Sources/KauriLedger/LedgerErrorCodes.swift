import KauriHTTP

/// The API error codes of the ledger: one per `TransferError` and `AccountError` case.
public enum LedgerErrorCodes {
    /// The code a transfer failure answers with. Exhaustive: a new case must choose its status here.
    public static func code(for error: TransferError) -> ErrorCode {
        let status: Int
        let title: String
        switch error {
        case .amountMustBePositive: (status, title) = (422, "Amount must be positive")
        case .codeInvalid: (status, title) = (422, "Transfer code invalid")
        case .referenceTooLong: (status, title) = (422, "Reference too long")
        case .timeoutInvalid: (status, title) = (422, "Pending timeout out of range")
        case .accountsMustBeDifferent: (status, title) = (422, "Debit and credit accounts must differ")
        case .debitAccountNotFound: (status, title) = (422, "Debit account not found")
        case .creditAccountNotFound: (status, title) = (422, "Credit account not found")
        case .currencyMismatch: (status, title) = (422, "Currency does not match the accounts")
        case .exceedsCredits: (status, title) = (422, "Debit would exceed the account's credits")
        case .exceedsDebits: (status, title) = (422, "Credit would exceed the account's debits")
        case .overflow: (status, title) = (422, "Balance would overflow")
        case .pendingTransferNotFound: (status, title) = (422, "Pending transfer not found")
        case .pendingTransferNotPending: (status, title) = (422, "Transfer is not pending")
        case .pendingTransferAlreadyPosted: (status, title) = (409, "Pending transfer already posted")
        case .pendingTransferAlreadyVoided: (status, title) = (409, "Pending transfer already voided")
        case .pendingTransferExpired: (status, title) = (409, "Pending transfer expired")
        case .pendingTransferNotExpired: (status, title) = (409, "Pending transfer has not expired")
        case .exceedsPendingTransferAmount: (status, title) = (422, "Amount exceeds the pending amount")
        case .existsWithDifferent: (status, title) = (409, "Transfer id already used with different fields")
        case .linkedEventFailed: (status, title) = (422, "A linked transfer failed")
        }
        return ErrorCode("ledger.\(error.name)", status: status, title: title)
    }

    /// The code an account failure answers with.
    public static func code(for error: AccountError) -> ErrorCode {
        switch error {
        case .flagsAreMutuallyExclusive:
            ErrorCode("ledger.flags_are_mutually_exclusive", status: 422, title: "Both balance limits set")
        case .ownerReferenceTooLong:
            ErrorCode("ledger.owner_reference_too_long", status: 422, title: "Owner reference too long")
        case .existsWithDifferent(let field):
            ErrorCode(
                "ledger.account_exists_with_different_\(field.rawValue)", status: 409,
                title: "Account id already used with different fields")
        }
    }

    /// Every ledger code, for docs/ERRORS.md.
    public static var all: [ErrorCode] {
        let transferErrors: [TransferError] =
            [
                .amountMustBePositive, .codeInvalid, .referenceTooLong, .timeoutInvalid, .accountsMustBeDifferent,
                .debitAccountNotFound, .creditAccountNotFound, .currencyMismatch, .exceedsCredits, .exceedsDebits,
                .overflow, .pendingTransferNotFound, .pendingTransferNotPending, .pendingTransferAlreadyPosted,
                .pendingTransferAlreadyVoided, .pendingTransferExpired, .pendingTransferNotExpired,
                .exceedsPendingTransferAmount, .linkedEventFailed,
            ] + TransferError.Field.allCases.map { .existsWithDifferent($0) }
        let accountErrors: [AccountError] =
            [.flagsAreMutuallyExclusive, .ownerReferenceTooLong]
            + [AccountError.Field.currency, .code, .flags, .ownerReference].map { .existsWithDifferent($0) }
        return transferErrors.map(Self.code(for:)) + accountErrors.map(Self.code(for:))
            + [ErrorCode.accountNotFound]
    }
}

extension ErrorCode {
    /// `GET` of a ledger account that does not exist (or is not the caller's).
    public static let accountNotFound = ErrorCode("ledger.account_not_found", status: 404, title: "Account not found")
}
