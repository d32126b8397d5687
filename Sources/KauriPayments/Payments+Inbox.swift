import Crypto
import Foundation
import KauriCore
import KauriDatabase
import SQLKit

extension Payments {
    /// The most header values kept with an inbox event, and the largest body accepted.
    public static let webhookHeaderCountMax = 64
    public static let webhookBodyBytesMax = 256 * 1024

    /// What the inbox did with a webhook.
    public enum WebhookReceipt: Sendable, Hashable {
        /// Stored; it will be applied shortly.
        case accepted
        /// Already stored before (a provider retry or a duplicate delivery).
        case duplicate
    }

    /// Verifies a webhook or callback and stores it, raw, once. Applying happens later (`applyDueEvents`).
    ///
    /// - A signed gateway's webhook (`/v1/webhooks/{gateway}`) must carry a valid signature.
    /// - An unsigned gateway's callback must come to the unguessable URL of one payment or refund
    ///   (`/v1/callbacks/{id}/{token}`); its news is confirmed with the gateway's status API before it counts.
    /// - Throws: `PaymentError.webhookUnauthenticated` (nothing stored), `.webhookMalformed`,
    ///   `.gatewayNotConfigured`.
    public func receiveWebhook(
        gateway name: GatewayName?, target: (id: String, token: String)?, headers: [String: String], body: [UInt8]
    ) async throws -> WebhookReceipt {
        let gatewayName: GatewayName
        var targetID: String?
        if let target {
            let expected = self.callbackToken(for: target.id)
            guard ConstantTime.isEqual(Array(target.token.utf8), Array(expected.utf8)) else {
                throw PaymentError.webhookUnauthenticated
            }
            guard let owner = try await self.gatewayName(ofTarget: target.id) else {
                throw PaymentError.webhookUnauthenticated
            }
            gatewayName = owner
            targetID = target.id
        } else {
            guard let name else { throw PaymentError.webhookUnauthenticated }
            gatewayName = name
        }
        let gateway = try self.gateway(gatewayName)
        if targetID == nil, !gateway.capabilities.contains(.signedWebhooks) {
            // Unsigned news is accepted only at a per-payment callback URL.
            throw PaymentError.webhookUnauthenticated
        }
        guard let text = String(validating: body, as: UTF8.self) else {
            throw PaymentError.webhookMalformed("the body is not UTF-8")
        }
        let kept = Dictionary(
            headers.filter { !Self.droppedHeaders.contains($0.key) }.prefix(Self.webhookHeaderCountMax).map {
                ($0.key, $0.value)
            }, uniquingKeysWith: { first, _ in first })
        do {
            _ = try gateway.parseWebhook(IncomingWebhook(headers: kept, body: body, pathToken: target?.token))
        } catch .signatureMissing, .signatureInvalid {
            throw PaymentError.webhookUnauthenticated
        } catch .malformed(let detail) {
            throw PaymentError.webhookMalformed(detail)
        }
        var hasher = SHA256()
        hasher.update(data: Data((targetID ?? "").utf8))
        hasher.update(data: Data([0]))
        hasher.update(data: body)
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let event = InboxEvent(
            id: "evt_" + self.ids.makeUUID().base32, gateway: gatewayName, digest: digest, targetID: targetID,
            headers: kept, body: text, state: .pending, attempts: 0, lastError: nil, receivedAt: self.clock.now())
        let inserted = try await self.database.transaction { connection in
            try await PaymentStore.insertEvent(event, on: connection)
        }
        if inserted { self.inboxWake.signal() }
        return inserted ? .accepted : .duplicate
    }

    /// Headers never stored with an event.
    static let droppedHeaders: Set<String> = ["authorization", "cookie", "proxy-authorization"]

    /// The gateway of the payment or refund a callback URL names.
    private func gatewayName(ofTarget id: String) async throws -> GatewayName? {
        if let paymentID = Payment.ID(id) {
            return try await self.payment(paymentID, ownerReference: nil)?.gateway
        }
        if let refundID = Refund.ID(id), let refund = try await self.refund(refundID) {
            return try await self.payment(refund.paymentID, ownerReference: nil)?.gateway
        }
        if let payoutID = Payout.ID(id) {
            return try await self.payout(payoutID, ownerReference: nil)?.gateway
        }
        return nil
    }

    /// Applies due inbox events, up to one batch; returns how many it handled.
    @discardableResult
    public func applyDueEvents() async throws -> Int {
        let now = self.clock.now()
        let events = try await self.database.transaction { connection in
            try await PaymentStore.claimDueEvents(
                now: now, limit: self.configuration.inboxBatchSize,
                leaseMilliseconds: self.configuration.inboxLeaseMilliseconds, kind: self.database.kind,
                on: connection)
        }
        // The common case — signed news of one payment each — in one transaction for the whole batch.
        let rest = await self.applyBatch(events, now: now)
        // The rest up to `inboxConcurrency` at a time: each event is its own transaction, and events about one
        // payment are ordered by its row lock (the transitions are idempotent and order-independent).
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for event in rest {
                if running == self.configuration.inboxConcurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.applyEvent(event) }
                running += 1
            }
        }
        return events.count
    }

    /// Applies, in one transaction, the claimed events that are a signed gateway's news about one payment each (a
    /// Paystack `charge.success`): their payments locked in id order, each moved as `apply(_:to:)` would, and each
    /// event's outcome recorded in the same commit — one lock on the shared ledger accounts and one commit for all,
    /// where one transaction per event queued on those accounts' row locks. Returns the events it did not take
    /// (callbacks, refunds, payouts, news naming no known payment), or all of them should the batch fail.
    private func applyBatch(_ events: [InboxEvent], now: Timestamp) async -> [InboxEvent] {
        var news: [(event: InboxEvent, status: GatewayPaymentStatus, reference: String)] = []
        var rest: [InboxEvent] = []
        for event in events {
            guard event.targetID == nil, let gateway = self.gateways[event.gateway],
                gateway.capabilities.contains(.signedWebhooks),
                let parsed = try? gateway.parseWebhook(
                    IncomingWebhook(headers: event.headers, body: Array(event.body.utf8), pathToken: nil)),
                parsed.count == 1, Self.payoutID(of: parsed[0]) == nil, case .payment(let status) = parsed[0],
                let reference = status.reference?.value
            else {
                rest.append(event)
                continue
            }
            news.append((event, status, reference))
        }
        guard news.count > 1 else { return events }
        // In chunks, one transaction each: on SQLite a chunk holds the one writer, and webhooks arriving meanwhile
        // wait for it to commit.
        let chunkSize = self.configuration.inboxApplyChunkSize
        for first in stride(from: 0, to: news.count, by: chunkSize) {
            let chunk = Array(news[first..<min(first + chunkSize, news.count)])
            do {
                let taken = try await self.applyChunk(chunk, now: now)
                rest += chunk.map(\.event).filter { !taken.contains($0.id) }
            } catch {
                self.logger.warning(
                    "applying a batch of webhook events failed; applying them one at a time",
                    metadata: ["error": "\(error)", "webhook.count": "\(chunk.count)"])
                rest += chunk.map(\.event)
            }
        }
        return rest
    }

    /// One transaction of `applyBatch`; returns the ids of the events it applied.
    private func applyChunk(
        _ chunk: [(event: InboxEvent, status: GatewayPaymentStatus, reference: String)], now: Timestamp
    ) async throws -> Set<String> {
        let (taken, published) = try await self.database.transaction { connection -> (Set<String>, Bool) in
            let captures = CaptureBatch()
            let payments = try await PaymentStore.payments(
                gatewayReferences: Array(Set(chunk.map(\.reference))), lock: true, kind: self.database.kind,
                on: connection)
            var current = Dictionary(
                payments.map { ($0.gatewayReference.value, $0) }, uniquingKeysWith: { first, _ in first })
            var taken = Set<String>()
            var published = false
            for item in chunk {
                guard let loaded = current[item.reference], loaded.gateway == item.event.gateway else { continue }
                let (applied, didPublish) = try await self.apply(
                    item.status, to: loaded, now: now, captures: captures, on: connection)
                current[item.reference] = applied
                published = published || didPublish
                let state: InboxEvent.State =
                    applied.reviewReason != nil && loaded.reviewReason == nil ? .flagged : .applied
                try await PaymentStore.finishEvent(
                    id: item.event.id, state: state, error: state == .flagged ? applied.reviewReason?.rawValue : nil,
                    nextAttemptAt: nil, now: now, on: connection)
                taken.insert(item.event.id)
            }
            // Every success's capture in one ledger call: the shared accounts locked and updated once.
            try await self.postCaptures(captures, on: connection)
            return (taken, published)
        }
        if published { self.publisher?.notifyCommitted() }
        return taken
    }

    /// Waits until a webhook was stored or `milliseconds` passed.
    func waitForInbox(milliseconds: Int) async {
        await self.inboxWake.wait(milliseconds: milliseconds)
    }

    private func applyEvent(_ event: InboxEvent) async {
        let outcome: (InboxEvent.State, String?)
        do {
            outcome = try await self.apply(event)
        } catch let error as GatewayError {
            outcome = (.pending, Self.describe(error))
        } catch {
            outcome = (.pending, String(describing: error))
        }
        var (state, detail) = outcome
        let now = self.clock.now()
        var nextAttempt: Timestamp?
        if state == .pending {
            if event.attempts >= self.configuration.inboxAttemptsMax {
                state = .failed
                self.logger.error(
                    "webhook event could not be applied; giving up",
                    metadata: [
                        "webhook.id": "\(event.id)", "gateway.name": "\(event.gateway)", "error": "\(detail ?? "")",
                    ])
            } else {
                nextAttempt = now.adding(milliseconds: self.checkDelay(attempt: event.attempts - 1))
            }
        }
        let (finalState, finalDetail, finalAttempt) = (state, detail, nextAttempt)
        do {
            try await self.database.transaction { connection in
                try await PaymentStore.finishEvent(
                    id: event.id, state: finalState, error: finalDetail, nextAttemptAt: finalAttempt, now: now,
                    on: connection)
            }
        } catch {
            self.logger.warning("could not record a webhook event's outcome", metadata: ["error": "\(error)"])
        }
    }

    /// What one event means, applied. Returns the event's new state (pending: try again later).
    private func apply(_ event: InboxEvent) async throws -> (InboxEvent.State, String?) {
        let gateway = try self.gateway(event.gateway)
        let parsed: [GatewayEvent]
        do {
            parsed = try gateway.parseWebhook(
                IncomingWebhook(headers: event.headers, body: Array(event.body.utf8), pathToken: nil))
        } catch {
            return (.failed, "unreadable: \(error)")
        }
        var state = InboxEvent.State.ignored
        var detail: String?
        // A callback to a refund's own URL is news about that refund, whatever the body looks like (PayHero's
        // withdrawal callback reuses the STK result envelope).
        let targetsRefund = event.targetID.flatMap(Refund.ID.init) != nil
        let targetedPayout = event.targetID.flatMap(Payout.ID.init)
        for news in parsed {
            let result: (InboxEvent.State, String?)
            // A callback to a payout's own URL, or news naming a payout's reference, is about that payout.
            if let payoutID = targetedPayout ?? Self.payoutID(of: news) {
                result = try await self.applyPayoutNews(news, to: payoutID)
                if Self.rank(result.0) > Self.rank(state) { (state, detail) = result }
                continue
            }
            switch news {
            case .payment(let status) where targetsRefund:
                let outcome: GatewayRefundStatus.Outcome =
                    switch status.outcome {
                    case .pending: .pending
                    case .succeeded: .succeeded
                    case .failed(let code, let message), .cancelled(let code, let message):
                        .failed(code: code, message: message)
                    }
                result = try await self.applyRefundNews(
                    GatewayRefundStatus(
                        reference: status.reference, paymentReference: nil, providerReference: status.providerReference,
                        outcome: outcome, amount: status.amount), event: event, gateway: gateway)
            case .payment(let status):
                result = try await self.applyPaymentNews(status, event: event, gateway: gateway)
            case .refund(let status):
                result = try await self.applyRefundNews(status, event: event, gateway: gateway)
            case .payout(let status):
                // A payout result may be the B2C or withdraw that carried one of our refunds.
                let outcome: GatewayRefundStatus.Outcome =
                    switch status.outcome {
                    case .pending: .pending
                    case .succeeded: .succeeded
                    case .failed(let code, let message): .failed(code: code, message: message)
                    }
                result = try await self.applyRefundNews(
                    GatewayRefundStatus(
                        reference: status.reference, paymentReference: nil, providerReference: status.providerReference,
                        outcome: outcome, amount: status.amount), event: event, gateway: gateway)
            case .ignored(let type):
                result = (.ignored, "event type \(type) is not used")
            }
            // The most serious outcome wins: pending (retry) > flagged > applied > ignored.
            if Self.rank(result.0) > Self.rank(state) { (state, detail) = result }
        }
        return (state, detail)
    }

    private static func rank(_ state: InboxEvent.State) -> Int {
        switch state {
        case .ignored: 0
        case .applied: 1
        case .flagged: 2
        case .failed: 3
        case .pending: 4
        }
    }

    private func applyPaymentNews(
        _ status: GatewayPaymentStatus, event: InboxEvent, gateway: any PaymentGateway
    ) async throws -> (InboxEvent.State, String?) {
        let id: Payment.ID?
        if let target = event.targetID {
            id = Payment.ID(target)
        } else {
            id = try await self.database.withConnection { connection in
                try await PaymentStore.paymentID(
                    gateway: gateway.name, reference: status.reference, providerReference: status.providerReference,
                    on: connection)
            }
        }
        guard let id, let payment = try await self.payment(id, ownerReference: nil) else {
            return (.ignored, "no payment matches")
        }
        var confirmed = status
        if !gateway.capabilities.contains(.signedWebhooks) {
            // Unsigned news is a hint: the gateway's own status API decides. The callback's amount (the status
            // API may not report one) is still checked against the intent.
            guard status.outcome != .pending else { return (.applied, nil) }
            let verified = try await gateway.verify(
                VerifyRequest(
                    reference: payment.gatewayReference,
                    providerReference: payment.providerReference ?? status.providerReference,
                    currency: payment.amount.currency))
            confirmed = GatewayPaymentStatus(
                reference: verified.reference ?? status.reference,
                providerReference: verified.providerReference ?? status.providerReference,
                outcome: verified.outcome, amount: status.amount ?? verified.amount,
                providerTransactionID: status.providerTransactionID ?? verified.providerTransactionID)
            if confirmed.outcome == .pending {
                return (.pending, "the gateway does not confirm the callback yet")
            }
        }
        let applied = try await self.apply(confirmed, to: id)
        return applied.reviewReason != nil && payment.reviewReason == nil
            ? (.flagged, applied.reviewReason?.rawValue) : (.applied, nil)
    }

    private func applyRefundNews(
        _ status: GatewayRefundStatus, event: InboxEvent, gateway: any PaymentGateway
    ) async throws -> (InboxEvent.State, String?) {
        let id: Refund.ID?
        if let target = event.targetID {
            id = Refund.ID(target)
        } else {
            id = try await self.database.withConnection { connection in
                try await PaymentStore.refundID(gateway: gateway.name, status: status, on: connection)
            }
        }
        guard let id, let refund = try await self.refund(id) else { return (.ignored, "no refund matches") }
        if let amount = status.amount, amount != refund.amount, status.outcome == .succeeded {
            self.logger.error(
                "refund news with a different amount; not applied",
                metadata: ["refund.id": "\(id)", "reported": "\(amount)", "expected": "\(refund.amount)"])
            return (.flagged, "amount mismatch: reported \(amount), refund is \(refund.amount)")
        }
        try await self.applyRefund(status, to: id)
        return (.applied, nil)
    }

    /// The payout a piece of news names by our reference (`po-…`), if any.
    private static func payoutID(of news: GatewayEvent) -> Payout.ID? {
        let reference: GatewayReference?
        switch news {
        case .payout(let status): reference = status.reference
        case .refund(let status): reference = status.reference
        case .payment, .ignored: reference = nil
        }
        guard let value = reference?.value, value.hasPrefix(PayoutIDKind.prefix + "-") else { return nil }
        return Payout.ID(value.replacingOccurrences(of: "-", with: "_"))
    }

    /// Applies a payout's result. Money leaves us, and the callback came to the payout's own unguessable URL (or
    /// was signed), so it is applied without a status check.
    private func applyPayoutNews(_ news: GatewayEvent, to id: Payout.ID) async throws -> (InboxEvent.State, String?) {
        let outcome: GatewayPayoutStatus.Outcome
        let providerReference: String?
        switch news {
        case .payout(let status):
            outcome = status.outcome
            providerReference = status.providerReference
        case .payment(let status):
            // PayHero's withdrawal callback reuses the STK result envelope.
            switch status.outcome {
            case .pending: outcome = .pending
            case .succeeded: outcome = .succeeded
            case .failed(let code, let message), .cancelled(let code, let message):
                outcome = .failed(code: code, message: message)
            }
            providerReference = status.providerReference
        case .refund(let status):
            switch status.outcome {
            case .pending: outcome = .pending
            case .succeeded: outcome = .succeeded
            case .failed(let code, let message): outcome = .failed(code: code, message: message)
            }
            providerReference = status.providerReference
        case .ignored(let type):
            return (.ignored, "event type \(type) is not used")
        }
        guard try await self.payout(id, ownerReference: nil) != nil else { return (.ignored, "no payout matches") }
        try await self.applyPayout(
            GatewayPayoutStatus(reference: nil, providerReference: providerReference, outcome: outcome, amount: nil),
            to: id)
        return (.applied, nil)
    }

    /// The delay before check number `attempt` (0-based), the last delay repeating.
    func checkDelay(attempt: Int) -> UInt64 {
        let delays = self.configuration.checkDelaysMilliseconds
        return delays[min(max(0, attempt), delays.count - 1)]
    }
}
