import Foundation
import KauriCore
import KauriDatabase
import KauriLedger
import SQLKit
import Testing

/// Delivered escrows whose inspection window ended, written straight into a migrated database with their money
/// captured into escrow holding: the settlement service's work, without going through checkout.
enum DueEscrows {
    static let amount: Int64 = 10_000
    static let fee: Int64 = 250
    static let seller = "usr_seller"

    /// Opens the accounts and writes `count` due escrows (due before `now`), 1,000 per transaction.
    static func seed(count: Int, database: Database, ledger: Ledger, now: Timestamp) async throws {
        let clearing = LedgerAccount.ID("gateway_clearing:mpesa:KES")!
        let holding = LedgerAccount.ID("escrow_holding:platform:KES")!
        let created = try await ledger.createAccounts([
            NewAccount(id: clearing, currency: .kes, code: .gatewayClearing, ownerReference: "mpesa"),
            NewAccount(
                id: holding, currency: .kes, code: .escrowHolding, ownerReference: "platform",
                flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: LedgerAccount.ID("platform_revenue:platform:KES")!, currency: .kes, code: .platformRevenue,
                ownerReference: "platform", flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: LedgerAccount.ID("seller_payable:\(Self.seller):KES")!, currency: .kes, code: .sellerPayable,
                ownerReference: Self.seller, flags: [.debitsMustNotExceedCredits, .history]),
        ])
        #expect(created.allSatisfy { if case .failed = $0 { false } else { true } })
        let link = "plink_" + UUIDv7(unixMilliseconds: 1, sequence: 0, random: 1).base32
        try await database.transaction { connection in
            try await connection.raw(
                """
                INSERT INTO payment_links (id, seller_reference, title, price, currency, quantity_sold, status,
                    created_at, updated_at)
                VALUES (\(bind: link), \(bind: Self.seller), 'Basket', \(bind: Self.amount), 'KES', 0, 'active', 0, 0)
                """
            ).run()
        }
        for first in stride(from: 0, to: count, by: 1_000) {
            let range = first..<min(first + 1_000, count)
            try await database.transaction { connection in
                let results = try await ledger.apply(
                    range.map { index in
                        [
                            NewTransfer(
                                id: LedgerTransfer.ID("pay_\(index).captured")!,
                                operation: .single(
                                    debit: clearing, credit: holding,
                                    amount: Money(minorUnits: Self.amount, currency: .kes)),
                                code: "payment_captured")
                        ]
                    }, on: connection)
                #expect(results.allSatisfy { $0[0].transfer != nil })
                for index in range {
                    let escrow = "esc_" + UUIDv7(unixMilliseconds: 2, sequence: UInt16(index), random: 7).base32
                    let due = Int64(now.unixMilliseconds) - 1_000 - Int64(index)
                    try await connection.raw(
                        """
                        INSERT INTO escrows (id, link_id, seller_reference, buyer_phone, buyer_name, title, amount, fee,
                            currency, status, payment_id, gateway, release_due_at, created_at, updated_at)
                        VALUES (\(bind: escrow), \(bind: link), \(bind: Self.seller), '+254700000000', 'Amina',
                            'Basket', \(bind: Self.amount), \(bind: Self.fee), 'KES', 'delivered',
                            \(bind: "pay_\(index)"), 'mpesa', \(bind: due), 0, 0)
                        """
                    ).run()
                }
            }
        }
    }
}
