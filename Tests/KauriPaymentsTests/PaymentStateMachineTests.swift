import Testing

@testable import KauriPayments

/// Every status × event of the payment state machine, and of refunds, as a table.
@Suite("Payment state machine")
struct PaymentStateMachineTests {
    static let events: [PaymentEvent] = [.actionRequired, .pending, .succeeded, .failed, .cancelled, .expired]

    /// The expected transition for each (status, event), row by row in `events` order.
    static let table: [PaymentStatus: [PaymentTransition]] = [
        .requiresAction: [
            .unchanged, .moveTo(.processing), .moveTo(.succeeded), .moveTo(.failed), .moveTo(.cancelled),
            .moveTo(.expired),
        ],
        .processing: [
            .moveTo(.requiresAction), .unchanged, .moveTo(.succeeded), .moveTo(.failed), .moveTo(.cancelled),
            .moveTo(.expired),
        ],
        .succeeded: [.unchanged, .unchanged, .unchanged, .unchanged, .unchanged, .unchanged],
        .failed: [.unchanged, .unchanged, .conflict, .unchanged, .unchanged, .unchanged],
        .cancelled: [.unchanged, .unchanged, .conflict, .unchanged, .unchanged, .unchanged],
        .expired: [.unchanged, .unchanged, .conflict, .unchanged, .unchanged, .unchanged],
    ]

    @Test("every status × event", arguments: PaymentStatus.allCases)
    func transitions(status: PaymentStatus) throws {
        let expected = try #require(Self.table[status])
        for (event, transition) in zip(Self.events, expected) {
            #expect(status.applying(event) == transition, "\(status) + \(event)")
        }
    }

    @Test("a final status never moves, whatever arrives, in any order")
    func finalStatusesStay() {
        for status in PaymentStatus.allCases where status.isFinal {
            for event in Self.events {
                if case .moveTo = status.applying(event) {
                    Issue.record("\(status) moved on \(event)")
                }
            }
        }
    }

    @Test("refunds: pending moves once, final statuses never")
    func refunds() {
        #expect(Refund.Status.pending.applying(.pending) == nil)
        #expect(Refund.Status.pending.applying(.succeeded) == .succeeded)
        #expect(Refund.Status.pending.applying(.failed) == .failed)
        for final in [Refund.Status.succeeded, .failed] {
            for event in Refund.Status.allCases {
                #expect(final.applying(event) == nil)
            }
        }
    }
}
