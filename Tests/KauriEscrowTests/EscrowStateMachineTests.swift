import KauriCore
import Testing

@testable import KauriEscrow

@Suite("Escrow state machine")
struct EscrowStateMachineTests {
    /// Every allowed (status, event) → next status; every other pair is refused.
    static let allowed: [EscrowStatus: [EscrowEvent: EscrowStatus]] = [
        .pending: [.paymentSucceeded: .paid, .paymentFailed: .cancelled, .paymentExpired: .expired],
        .paid: [.ship: .shipped, .complete: .delivered, .openDispute: .disputed],
        .shipped: [.deliver: .delivered, .openDispute: .disputed],
        .delivered: [
            .confirm: .completed, .autoRelease: .completed, .ratingSplit: .completed, .openDispute: .disputed,
        ],
        .disputed: [.resolveRelease: .completed, .resolveRefund: .refunded, .resolveSplit: .completed],
        .completed: [:], .refunded: [:], .cancelled: [:], .expired: [:],
    ]

    @Test("every status × event", arguments: EscrowStatus.allCases)
    func table(_ status: EscrowStatus) {
        for event in EscrowEvent.allCases {
            #expect(status.applying(event) == Self.allowed[status]?[event], "\(status) + \(event)")
        }
    }

    @Test("goods are shipped, delivered and confirmed; sessions are completed and split by rating")
    func kinds() {
        let goodsOnly: Set<EscrowEvent> = [.ship, .deliver, .confirm]
        let sessionOnly: Set<EscrowEvent> = [.complete, .ratingSplit]
        for event in EscrowEvent.allCases {
            #expect(EscrowKind.goods.accepts(event) == !sessionOnly.contains(event), "goods + \(event)")
            #expect(EscrowKind.session.accepts(event) == !goodsOnly.contains(event), "session + \(event)")
        }
    }

    @Test("session split: the default table, client's share rounded down, remainder to the partner")
    func sessionSplits() throws {
        let shares = SessionShares.standard
        #expect(shares.description == "5:100,4:100,3:90,2:75,1:50")
        // 10 001 minor units: 10% is 1 000.1 → the client gets 1 000, the partner 9 001.
        let expected: [Int?: (Int64, Int64)] = [
            nil: (10_001, 0), 5: (10_001, 0), 4: (10_001, 0), 3: (9_001, 1_000), 2: (7_501, 2_500), 1: (5_001, 5_000),
        ]
        for (rating, (partner, client)) in expected {
            let split = shares.split(10_001, rating: rating)
            #expect(split.partner == partner && split.client == client, "rating \(String(describing: rating))")
        }
        // Every rating and many odd amounts: the parts add up, the client's is ⌊amount × % / 100⌋.
        for amount: Int64 in [1, 2, 3, 7, 99, 101, 333, 999_999, 1_000_003, .max] {
            for rating in SessionShares.ratings {
                let (partner, client) = shares.split(amount, rating: rating)
                let clientPercent = Int64(100 - shares.partnerPercent[rating - 1])
                #expect(partner + client == amount)
                #expect(partner > 0 && client >= 0)
                let exact = amount.multipliedFullWidth(by: clientPercent)
                #expect(client == Int64(100).dividingFullWidth(exact).quotient, "\(amount) rated \(rating)")
            }
        }
        #expect(shares.split(1, rating: 1) == (1, 0))
        #expect(shares.split(3, rating: 1) == (2, 1))
    }

    @Test("session shares parse from configuration and refuse incomplete or out-of-range tables")
    func sessionSharesParse() throws {
        let parsed = try SessionShares.parse("1:40, 2:60,3:80,4:95,5:100")
        #expect(parsed.partnerPercent == [40, 60, 80, 95, 100])
        #expect(parsed.split(1_000, rating: 1) == (400, 600))
        for bad in [
            "", "5:100", "1:50,2:75,3:90,4:100,5:101", "1:0,2:75,3:90,4:100,5:100", "1:50,1:50,3:90,4:100,5:100",
            "1:50,2:75,3:90,4:100,6:100", "a:b",
        ] {
            #expect(throws: SessionShares.Invalid.self, "\(bad)") { try SessionShares.parse(bad) }
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
