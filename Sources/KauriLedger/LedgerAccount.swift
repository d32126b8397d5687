import KauriCore

/// One account of the double-entry ledger: a currency, a kind (`code`), an optional owner and four balances.
///
/// Balances only change through transfers. `debits_pending`/`credits_pending` hold reserved amounts of pending
/// (two-phase) transfers; `debits_posted`/`credits_posted` hold completed movements. None is ever negative.
public struct LedgerAccount: Hashable, Sendable {
    /// The account id.
    public var id: ID
    /// The one currency the account holds.
    public var currency: Currency
    /// What the account is for (see docs/LEDGER.md's chart of accounts).
    public var code: Code
    /// Who the account belongs to (`usr_…`, `paystack`), if anyone.
    public var ownerReference: String?
    /// Balance limits and history.
    public var flags: Flags
    /// The four balances.
    public var balances: Balances
    /// Incremented by every transfer that changes the balances; orders the account's history.
    public var version: Int64
    /// When the account was created.
    public var createdAt: Timestamp

    /// Creates an account value (with zero balances unless given).
    public init(
        id: ID, currency: Currency, code: Code, ownerReference: String? = nil, flags: Flags = [],
        balances: Balances = Balances(), version: Int64 = 0, createdAt: Timestamp
    ) {
        self.id = id
        self.currency = currency
        self.code = code
        self.ownerReference = ownerReference
        self.flags = flags
        self.balances = balances
        self.version = version
        self.createdAt = createdAt
    }
}

extension LedgerAccount {
    /// An account id: 1–`LedgerLimits.idLengthMax` characters of `A–Z a–z 0–9 _ - . :`, chosen by the caller.
    ///
    /// Callers choose ids so that creating an account is idempotent; chart-of-accounts ids are derived with
    /// `ID.derived(code:owner:currency:)`.
    public struct ID: LedgerIdentifierText {
        /// The id text.
        public let rawValue: String

        /// Validates `rawValue`; nil when it is empty, too long or has other characters.
        public init?(_ rawValue: String) {
            guard LedgerIdentifier.isValid(rawValue) else { return nil }
            self.rawValue = rawValue
        }

        /// The id of the one account with this code, owner and currency: `seller_payable:usr_123:KES`.
        public static func derived(code: Code, owner: String?, currency: Currency) -> ID? {
            ID([code.rawValue, owner, currency.code].compactMap { $0 }.joined(separator: ":"))
        }
    }

    /// The kind of an account in the chart of accounts. Modules may declare more codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible, Codable {
        /// The code text, snake_case.
        public let rawValue: String

        /// Declares a code; it must be 1–40 characters of `a–z 0–9 _`.
        public init?(_ rawValue: String) {
            guard (1...40).contains(rawValue.utf8.count),
                rawValue.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F })
            else { return nil }
            self.rawValue = rawValue
        }

        private init(unchecked rawValue: String) { self.rawValue = rawValue }

        public var description: String { self.rawValue }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let code = Code(text) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "invalid code"))
            }
            self = code
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(self.rawValue)
        }

        /// Money a gateway owes the platform for payments it collected (asset; debit-normal), per gateway.
        public static let gatewayClearing = Code(unchecked: "gateway_clearing")
        /// Buyers' money held until an escrow is released or refunded (liability; credit-normal).
        public static let escrowHolding = Code(unchecked: "escrow_holding")
        /// What the platform owes a seller (liability; credit-normal), per seller.
        public static let sellerPayable = Code(unchecked: "seller_payable")
        /// What the platform owes a partner such as a tutor or driver (liability; credit-normal), per partner.
        public static let partnerPayable = Code(unchecked: "partner_payable")
        /// The platform's commission (income; credit-normal).
        public static let platformRevenue = Code(unchecked: "platform_revenue")
        /// Fees charged by gateways (expense; debit-normal), per gateway.
        public static let gatewayFees = Code(unchecked: "gateway_fees")
        /// Refunds approved but not yet paid back through the gateway (liability; credit-normal).
        public static let refundsPayable = Code(unchecked: "refunds_payable")
        /// Payouts sent to a provider and not yet confirmed (asset; debit-normal).
        public static let payoutsInTransit = Code(unchecked: "payouts_in_transit")
        /// Money that entered the platform from outside, the counterpart of opening balances (equity).
        public static let externalFunding = Code(unchecked: "external_funding")
    }

    /// Balance limits and options, TigerBeetle's account flags.
    public struct Flags: OptionSet, Hashable, Sendable {
        public let rawValue: Int64
        public init(rawValue: Int64) { self.rawValue = rawValue }

        /// `debits_pending + debits_posted ≤ credits_posted`: the account cannot go below zero (credit-normal).
        public static let debitsMustNotExceedCredits = Flags(rawValue: 1 << 0)
        /// `credits_pending + credits_posted ≤ debits_posted` (debit-normal accounts that must not go negative).
        public static let creditsMustNotExceedDebits = Flags(rawValue: 1 << 1)
        /// Keep a balance snapshot per change so balances can be read as of a past time.
        public static let history = Flags(rawValue: 1 << 2)

        /// The flag names used on the wire.
        public var names: [String] {
            var names: [String] = []
            if self.contains(.debitsMustNotExceedCredits) { names.append("debits_must_not_exceed_credits") }
            if self.contains(.creditsMustNotExceedDebits) { names.append("credits_must_not_exceed_debits") }
            if self.contains(.history) { names.append("history") }
            return names
        }
    }

    /// The four balances of an account, in minor units of its currency.
    public struct Balances: Hashable, Sendable {
        /// Reserved by pending transfers that debit the account.
        public var debitsPending: Int64
        /// Completed debits.
        public var debitsPosted: Int64
        /// Reserved by pending transfers that credit the account.
        public var creditsPending: Int64
        /// Completed credits.
        public var creditsPosted: Int64

        /// Creates balances, zero by default.
        public init(
            debitsPending: Int64 = 0, debitsPosted: Int64 = 0, creditsPending: Int64 = 0, creditsPosted: Int64 = 0
        ) {
            self.debitsPending = debitsPending
            self.debitsPosted = debitsPosted
            self.creditsPending = creditsPending
            self.creditsPosted = creditsPosted
        }

        /// `credits_posted − debits_posted`: what a credit-normal account holds.
        public var netCreditsPosted: Int64 { self.creditsPosted &- self.debitsPosted }
        /// What a credit-normal account can still be debited: credits posted minus all debits (pending too).
        public var available: Int64 { self.creditsPosted &- self.debitsPosted &- self.debitsPending }
    }
}

/// An account or transfer id: validated text, ordered, printed and encoded as the text itself.
public protocol LedgerIdentifierText: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The id text.
    var rawValue: String { get }
    /// Validates the text; nil when it is not an id.
    init?(_ rawValue: String)
}

extension LedgerIdentifierText {
    public var description: String { self.rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = Self(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

/// The validation rule shared by account and transfer ids.
enum LedgerIdentifier {
    static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        guard (1...LedgerLimits.idLengthMax).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x5F || byte == 0x2D || byte == 0x2E || byte == 0x3A
        }
    }
}
