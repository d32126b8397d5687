import KauriCore
import Testing

@testable import KauriEscrow

@Suite("Escrow state machine")
struct EscrowStateMachineTests {
    /// Every allowed (status, event) → next status; every other pair is refused.
    static let allowed: [EscrowStatus: [EscrowEvent: EscrowStatus]] = [
        .pending: [.paymentSucceeded: .paid, .paymentFailed: .cancelled, .paymentExpired: .expired],
        .paid: [.ship: .shipped, .openDispute: .disputed],
        .shipped: [.deliver: .delivered, .openDispute: .disputed],
        .delivered: [.confirm: .completed, .autoRelease: .completed, .openDispute: .disputed],
        .disputed: [.resolveRelease: .completed, .resolveRefund: .refunded, .resolveSplit: .completed],
        .completed: [:], .refunded: [:], .cancelled: [:], .expired: [:],
    ]

    @Test("every status × event", arguments: EscrowStatus.allCases)
    func table(_ status: EscrowStatus) {
        for event in EscrowEvent.allCases {
            #expect(status.applying(event) == Self.allowed[status]?[event], "\(status) + \(event)")
        }
    }

    @Test("final statuses take no event and hold no money; money is held exactly from paid to release")
    func finality() {
        for status in EscrowStatus.allCases {
            if status.isFinal {
                #expect(EscrowEvent.allCases.allSatisfy { status.applying($0) == nil })
                #expect(!status.holdsMoney)
            }
        }
        #expect(EscrowStatus.allCases.filter(\.holdsMoney) == [.paid, .shipped, .delivered, .disputed])
    }

    @Test("fee: floor of basis points plus the fixed part, per currency, without overflow")
    func fees() {
        let fees = EscrowFees(basisPoints: 150, fixed: [.kes: 1_000])
        #expect(fees.fee(on: Money(minorUnits: 100_000, currency: .kes)).minorUnits == 1_500 + 1_000)
        // 1.5% of 99 999 is 1 499.985: rounded down.
        #expect(fees.fee(on: Money(minorUnits: 99_999, currency: .kes)).minorUnits == 1_499 + 1_000)
        #expect(fees.fee(on: Money(minorUnits: 99_999, currency: .ghs)).minorUnits == 1_499)
        #expect(EscrowFees().fee(on: Money(minorUnits: 12_345, currency: .kes)).minorUnits == 0)
        let all = EscrowFees(basisPoints: 10_000)
        #expect(all.fee(on: Money(minorUnits: .max, currency: .kes)).minorUnits == .max)
        #expect(all.fee(on: Money(minorUnits: 7, currency: .kes)).minorUnits == 7)
    }

    @Test("a link is payable while active, before its expiry and with units left")
    func linkPayable() {
        let now = Timestamp(unixMilliseconds: 1_000_000)
        var link = PaymentLink(
            id: PaymentLink.ID(uuid: UUIDv7(unixMilliseconds: 1, sequence: 0, random: 1)), sellerReference: "usr_x",
            sellerPhone: nil,
            title: "Shoes", description: nil, price: Money(minorUnits: 100, currency: .kes), quantityAvailable: 1,
            quantitySold: 0, status: .active, expiresAt: now.adding(milliseconds: 1), createdAt: now, updatedAt: now)
        #expect(link.isPayable(at: now))
        #expect(!link.isPayable(at: now.adding(milliseconds: 1)))
        link.quantityAvailable = 0
        #expect(!link.isPayable(at: now))
        link.quantityAvailable = nil
        link.status = .closed
        #expect(!link.isPayable(at: now))
    }
}
