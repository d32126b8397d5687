import KauriDatabase
import SQLKit

/// Proves the ledger's invariants over one consistent snapshot of the database (`kauri ledger verify`).
///
/// 1. Per currency, Σ debits = Σ credits over all accounts, for pending and for posted balances.
/// 2. Every account's stored balances equal what its transfers add up to.
/// 3. No balance is negative and no flagged account breaks its limit.
/// 4. Every transfer's currency is its accounts' currency; every resolution matches its pending transfer.
public enum LedgerVerifier {
    /// What a verification found.
    public struct Report: Sendable, Hashable {
        /// Accounts checked.
        public var accountCount: Int
        /// Transfers checked.
        public var transferCount: Int
        /// Per currency: total posted and total pending (debits, which equal credits when the ledger holds).
        public var totals: [CurrencyTotal]
        /// Every violation, one sentence each; empty when the ledger holds.
        public var violations: [String]

        /// Whether every invariant holds.
        public var isValid: Bool { self.violations.isEmpty }

        /// A one-line summary.
        public var summary: String {
            let currencies = self.totals.map { "\($0.currency) posted \($0.debitsPosted) pending \($0.debitsPending)" }
            let state = self.isValid ? "ledger ok" : "ledger INVALID (\(self.violations.count) violations)"
            return "\(state): \(self.accountCount) accounts, \(self.transferCount) transfers"
                + (currencies.isEmpty ? "" : "; " + currencies.joined(separator: "; "))
        }
    }

    /// Sums of one currency, in minor units.
    public struct CurrencyTotal: Sendable, Hashable {
        public var currency: String
        public var debitsPending: Int64
        public var debitsPosted: Int64
        public var creditsPending: Int64
        public var creditsPosted: Int64
    }

    /// Checks every invariant; never writes.
    public static func verify(_ database: Database) async throws -> Report {
        try await database.snapshot { connection in
            var violations: [String] = []
            // SUMs are computed as exact NUMERIC on PostgreSQL (no overflow) and cast back.
            let totals = try await connection.raw(
                """
                SELECT currency, COUNT(*) AS accounts,
                    CAST(SUM(debits_pending) AS TEXT) AS dp, CAST(SUM(debits_posted) AS TEXT) AS dpo,
                    CAST(SUM(credits_pending) AS TEXT) AS cp, CAST(SUM(credits_posted) AS TEXT) AS cpo
                FROM ledger_accounts GROUP BY currency ORDER BY currency
                """
            ).all()
            var currencyTotals: [CurrencyTotal] = []
            var accountCount = 0
            for row in totals {
                let currency = try row.decode(column: "currency", as: String.self)
                accountCount += Int(try row.decode(column: "accounts", as: Int64.self))
                let sums = try ["dp", "dpo", "cp", "cpo"].map { try row.decode(column: $0, as: String.self) }
                if sums[0] != sums[2] {
                    violations.append("\(currency): pending debits \(sums[0]) ≠ pending credits \(sums[2])")
                }
                if sums[1] != sums[3] {
                    violations.append("\(currency): posted debits \(sums[1]) ≠ posted credits \(sums[3])")
                }
                let values = sums.map { Int64($0) ?? -1 }
                currencyTotals.append(
                    CurrencyTotal(
                        currency: currency, debitsPending: values[0], debitsPosted: values[1],
                        creditsPending: values[2], creditsPosted: values[3]))
            }

            let transferCount =
                try await connection.raw("SELECT COUNT(*) AS n FROM ledger_transfers").first()?
                .decode(column: "n", as: Int64.self) ?? 0

            // Balances recomputed from transfers: single and post move posted balances; an open pending transfer
            // (nothing refers to it as pending_id) holds its amount in pending balances.
            let mismatches = try await connection.raw(
                """
                WITH legs AS (
                    SELECT t.debit_account_id AS account_id,
                        CASE WHEN t.kind = 'pending' AND r.id IS NULL THEN t.amount ELSE 0 END AS dp,
                        CASE WHEN t.kind IN ('single', 'post') THEN t.amount ELSE 0 END AS dpo,
                        0 AS cp, 0 AS cpo
                    FROM ledger_transfers AS t LEFT JOIN ledger_transfers AS r ON r.pending_id = t.id
                    UNION ALL
                    SELECT t.credit_account_id, 0, 0,
                        CASE WHEN t.kind = 'pending' AND r.id IS NULL THEN t.amount ELSE 0 END,
                        CASE WHEN t.kind IN ('single', 'post') THEN t.amount ELSE 0 END
                    FROM ledger_transfers AS t LEFT JOIN ledger_transfers AS r ON r.pending_id = t.id
                ), sums AS (
                    SELECT account_id, SUM(dp) AS dp, SUM(dpo) AS dpo, SUM(cp) AS cp, SUM(cpo) AS cpo
                    FROM legs GROUP BY account_id
                )
                SELECT a.id,
                    a.debits_pending, CAST(COALESCE(s.dp, 0) AS TEXT) AS dp,
                    a.debits_posted, CAST(COALESCE(s.dpo, 0) AS TEXT) AS dpo,
                    a.credits_pending, CAST(COALESCE(s.cp, 0) AS TEXT) AS cp,
                    a.credits_posted, CAST(COALESCE(s.cpo, 0) AS TEXT) AS cpo
                FROM ledger_accounts AS a LEFT JOIN sums AS s ON s.account_id = a.id
                WHERE a.debits_pending <> COALESCE(s.dp, 0) OR a.debits_posted <> COALESCE(s.dpo, 0)
                   OR a.credits_pending <> COALESCE(s.cp, 0) OR a.credits_posted <> COALESCE(s.cpo, 0)
                ORDER BY a.id
                """
            ).all()
            for row in mismatches {
                let id = try row.decode(column: "id", as: String.self)
                var parts: [String] = []
                for (stored, summed) in [
                    ("debits_pending", "dp"), ("debits_posted", "dpo"), ("credits_pending", "cp"),
                    ("credits_posted", "cpo"),
                ] {
                    let value = String(try row.decode(column: stored, as: Int64.self))
                    let expected = try row.decode(column: summed, as: String.self)
                    if value != expected { parts.append("\(stored) \(value), transfers say \(expected)") }
                }
                violations.append("account \(id): " + parts.joined(separator: "; "))
            }

            let broken = try await connection.raw(
                """
                SELECT id FROM ledger_accounts
                WHERE debits_pending < 0 OR debits_posted < 0 OR credits_pending < 0 OR credits_posted < 0
                   OR ((flags & 1) <> 0 AND debits_pending + debits_posted > credits_posted)
                   OR ((flags & 2) <> 0 AND credits_pending + credits_posted > debits_posted)
                ORDER BY id
                """
            ).all()
            for row in broken {
                violations.append("account \(try row.decode(column: "id", as: String.self)): breaks its balance limit")
            }

            let currencyMismatches = try await connection.raw(
                """
                SELECT t.id FROM ledger_transfers AS t
                JOIN ledger_accounts AS d ON d.id = t.debit_account_id
                JOIN ledger_accounts AS c ON c.id = t.credit_account_id
                WHERE t.currency <> d.currency OR t.currency <> c.currency
                ORDER BY t.sequence
                """
            ).all()
            for row in currencyMismatches {
                violations.append(
                    "transfer \(try row.decode(column: "id", as: String.self)): currency differs from its accounts'")
            }

            let badResolutions = try await connection.raw(
                """
                SELECT r.id FROM ledger_transfers AS r JOIN ledger_transfers AS p ON p.id = r.pending_id
                WHERE p.kind <> 'pending' OR r.amount > p.amount OR r.debit_account_id <> p.debit_account_id
                   OR r.credit_account_id <> p.credit_account_id OR r.currency <> p.currency
                   OR (r.kind IN ('void', 'expire') AND r.amount <> p.amount)
                ORDER BY r.sequence
                """
            ).all()
            for row in badResolutions {
                violations.append(
                    "transfer \(try row.decode(column: "id", as: String.self)): "
                        + "does not match the pending transfer it resolves"
                )
            }

            return Report(
                accountCount: accountCount, transferCount: Int(transferCount), totals: currencyTotals,
                violations: violations)
        }
    }
}
