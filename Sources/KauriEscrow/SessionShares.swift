import Foundation

/// How a session's money is split by the client's rating (origin S1): the partner's percentage for each rating
/// 1–5; the rest goes back to the client.
public struct SessionShares: Sendable, Hashable {
    /// The partner's percentage, 1–100, indexed by rating − 1.
    public private(set) var partnerPercent: [Int]

    /// The default table: 5 and 4 → 100% to the partner; 3 → 90/10; 2 → 75/25; 1 → 50/50.
    public static let standard = SessionShares(uncheckedPercent: [50, 75, 90, 100, 100])

    /// Ratings run from 1 to 5.
    public static let ratings = 1...5

    private init(uncheckedPercent: [Int]) {
        self.partnerPercent = uncheckedPercent
    }

    /// A table from `rating: partner %` pairs; every rating 1–5 must appear once, each share from 1 to 100.
    /// - Throws: `Invalid` naming what is wrong.
    public init(partnerPercent byRating: [Int: Int]) throws(Invalid) {
        guard Set(byRating.keys) == Set(Self.ratings) else { throw Invalid("give a share for each rating 1–5") }
        for (rating, percent) in byRating where !(1...100).contains(percent) {
            throw Invalid("the share for rating \(rating) must be 1–100 (%), got \(percent)")
        }
        self.partnerPercent = Self.ratings.map { byRating[$0]! }
    }

    /// Parses `5:100,4:100,3:90,2:75,1:50`.
    public static func parse(_ text: String) throws(Invalid) -> SessionShares {
        var table: [Int: Int] = [:]
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let rating = Int(parts[0]), let percent = Int(parts[1]) else {
                throw Invalid("`\(entry)` is not `rating:percent`")
            }
            guard table.updateValue(percent, forKey: rating) == nil else { throw Invalid("rating \(rating) twice") }
        }
        return try SessionShares(partnerPercent: table)
    }

    /// The split of `amount` minor units for `rating` (nil: the client did not rate — all to the partner). The
    /// client's share is rounded down, so the remainder of the division goes to the partner; the two always add up
    /// to `amount`. Never overflows.
    public func split(_ amount: Int64, rating: Int?) -> (partner: Int64, client: Int64) {
        precondition(amount > 0, "a session's amount is positive")
        guard let rating else { return (amount, 0) }
        precondition(Self.ratings.contains(rating), "ratings run from 1 to 5")
        let clientPercent = Int64(100 - self.partnerPercent[rating - 1])
        let client = (amount / 100) * clientPercent + (amount % 100) * clientPercent / 100
        return (amount - client, client)
    }

    /// The table as `5:100,4:100,…`.
    public var description: String {
        Self.ratings.reversed().map { "\($0):\(self.partnerPercent[$0 - 1])" }.joined(separator: ",")
    }

    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
