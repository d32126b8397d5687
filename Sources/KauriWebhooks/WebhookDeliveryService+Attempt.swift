import AsyncHTTPClient
import KauriCore
import Logging
import NIOCore
import SQLKit
import Synchronization

extension WebhookDeliveryService {
    /// What one attempt came to.
    enum Outcome: Sendable, Hashable {
        /// The endpoint answered 2xx.
        case delivered(status: Int)
        /// The endpoint answered 410 Gone: disable it.
        case gone
        /// The attempt failed; retry on the schedule, no earlier than `retryAfterMilliseconds` from now.
        case failed(status: Int?, error: String, retryAfterMilliseconds: UInt64?)
        /// The endpoint was deleted or disabled since the claim: fail without sending.
        case abandoned(String)
    }

    /// The attempt's deadline passed.
    struct Timeout: Error {}

    /// How much later than the attempt's deadline the HTTP client's own deadline falls.
    static let clientDeadlineSlackMilliseconds: UInt64 = 1_000

    /// Sends one claimed delivery and records the outcome; the claim's slot is freed and the loop woken after.
    func attempt(_ claim: Claim) async {
        let endpointID = claim.delivery.endpointID.description
        defer {
            self.inFlight.release(endpointID)
            self.events.wake.signal()
        }
        let outcome = await self.send(claim)
        do {
            try await self.record(outcome, for: claim.delivery)
        } catch {
            // The lease runs out and the delivery is tried again with the same webhook-id: at least once.
            self.logger.error(
                "webhook outcome not recorded",
                metadata: ["webhook.delivery.id": "\(claim.delivery.id)", "error": "\(error)"])
        }
    }

    /// One POST: the SSRF guard, the signature over this attempt's timestamp, and the answer within the timeout.
    func send(_ claim: Claim) async -> Outcome {
        guard let endpoint = claim.endpoint else { return .abandoned("the endpoint was deleted") }
        guard endpoint.state == .enabled else { return .abandoned("the endpoint is disabled") }
        let target: WebhookURLGuard.Target
        do {
            target = try await self.urlGuard.check(endpoint.url)
        } catch {
            return .failed(status: nil, error: "webhook.url_not_allowed: \(error)", retryAfterMilliseconds: nil)
        }
        let now = self.clock.now()
        var signers: [WebhookSigner] = []
        do {
            signers.append(try WebhookSigner(secret: endpoint.secret))
            if let previous = endpoint.previousSecret, let expiresAt = endpoint.previousSecretExpiresAt, now < expiresAt
            {
                signers.append(try WebhookSigner(secret: previous))
            }
        } catch {
            return .failed(status: nil, error: "the endpoint's secret is unreadable", retryAfterMilliseconds: nil)
        }
        let delivery = claim.delivery
        let timestamp = Int64(now.unixMilliseconds / 1_000)
        let payload = Array(delivery.payload.utf8)
        let (url, hostHeader) = target.connection()
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "webhook-id", value: delivery.messageID.description)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(
            name: "webhook-signature",
            value: WebhookSigner.header(
                signers: signers, messageID: delivery.messageID.description, timestamp: timestamp, payload: payload))
        request.headers.add(name: "content-type", value: "application/json")
        if let hostHeader { request.headers.replaceOrAdd(name: "host", value: hostHeader) }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let timeoutMilliseconds = self.configuration.requestTimeoutMilliseconds
        let prepared = request
        do {
            let (status, retryAfter) = try await Self.withTimeout(milliseconds: timeoutMilliseconds) {
                // The client's own deadline is a backstop; ours fires first and names the limit.
                let response = try await self.httpClient.execute(
                    prepared, timeout: .milliseconds(Int64(timeoutMilliseconds + Self.clientDeadlineSlackMilliseconds)),
                    logger: self.logger)
                var bytesRead = 0
                for try await chunk in response.body {
                    bytesRead += chunk.readableBytes
                    if bytesRead >= WebhookLimits.responseBodyBytesMax { break }
                }
                return (Int(response.status.code), response.headers.first(name: "retry-after"))
            }
            return self.classify(status: status, retryAfter: retryAfter, now: now)
        } catch is Timeout {
            return .failed(
                status: nil, error: "no answer within \(timeoutMilliseconds) ms", retryAfterMilliseconds: nil)
        } catch {
            return .failed(status: nil, error: Self.truncated("\(error)"), retryAfterMilliseconds: nil)
        }
    }

    /// 2xx delivered; 410 gone; 429/502/503/504 failed with their `Retry-After`; anything else (3xx included:
    /// redirects are not followed) failed.
    func classify(status: Int, retryAfter: String?, now: Timestamp) -> Outcome {
        switch status {
        case 200..<300:
            return .delivered(status: status)
        case 410:
            return .gone
        case _ where Self.throttlingStatuses.contains(status):
            let delay = retryAfter.flatMap { WebhookRetrySchedule.retryAfterMilliseconds($0, now: now) }
            return .failed(
                status: status, error: "HTTP \(status)",
                retryAfterMilliseconds: delay.map { min($0, self.configuration.retryAfterMaxMilliseconds) })
        case 300..<400:
            return .failed(
                status: status, error: "HTTP \(status): redirects are not followed", retryAfterMilliseconds: nil)
        default:
            return .failed(status: status, error: "HTTP \(status)", retryAfterMilliseconds: nil)
        }
    }

    /// Stores what an attempt came to. Updates only a delivery that is still pending, so a deletion or a 410 that
    /// happened meanwhile wins.
    func record(_ outcome: Outcome, for delivery: WebhookDelivery) async throws {
        let now = Int64(self.clock.now().unixMilliseconds)
        let id = delivery.id.description
        var metadata: Logger.Metadata = [
            "webhook.delivery.id": "\(delivery.id)", "webhook.endpoint.id": "\(delivery.endpointID)",
            "webhook.message.id": "\(delivery.messageID)", "webhook.attempt": "\(delivery.attempts)",
        ]
        switch outcome {
        case .delivered(let status):
            try await self.database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE webhook_deliveries SET state = 'delivered', leased_until = 0, last_status = \(bind: status),
                        last_error = NULL, updated_at = \(bind: now)
                    WHERE id = \(bind: id) AND state = 'pending'
                    """
                ).run()
            }
            metadata["http.status"] = "\(status)"
            self.logger.info("webhook delivered", metadata: metadata)
        case .gone:
            let reason = "the endpoint answered 410 Gone"
            try await self.database.transaction { connection in
                try await connection.raw(
                    """
                    UPDATE webhook_deliveries SET state = 'failed', leased_until = 0, last_status = 410,
                        last_error = \(bind: reason), updated_at = \(bind: now)
                    WHERE id = \(bind: id) AND state = 'pending'
                    """
                ).run()
                try await self.events.store.disableEndpoint(
                    delivery.endpointID.description, reason: reason, on: connection, now: now)
            }
            self.logger.warning("webhook endpoint disabled after 410 Gone", metadata: metadata)
        case .abandoned(let reason):
            try await self.database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE webhook_deliveries SET state = 'failed', leased_until = 0, last_error = \(bind: reason),
                        updated_at = \(bind: now)
                    WHERE id = \(bind: id) AND state = 'pending'
                    """
                ).run()
            }
            metadata["error"] = "\(reason)"
            self.logger.info("webhook delivery abandoned", metadata: metadata)
        case .failed(let status, let error, let retryAfter):
            metadata["error"] = "\(error)"
            guard let delay = self.jitter.delay(self.configuration.schedule, afterAttempt: delivery.attempts) else {
                try await self.database.withConnection { connection in
                    try await connection.raw(
                        """
                        UPDATE webhook_deliveries SET state = 'failed', leased_until = 0,
                            last_status = \(bind: status), last_error = \(bind: error), updated_at = \(bind: now)
                        WHERE id = \(bind: id) AND state = 'pending'
                        """
                    ).run()
                }
                self.logger.error("webhook delivery failed for good", metadata: metadata)
                return
            }
            let wait = max(delay, retryAfter ?? 0)
            try await self.database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE webhook_deliveries SET next_attempt_at = \(bind: now + Int64(wait)), leased_until = 0,
                        last_status = \(bind: status), last_error = \(bind: error), updated_at = \(bind: now)
                    WHERE id = \(bind: id) AND state = 'pending'
                    """
                ).run()
            }
            metadata["retry_in_ms"] = "\(wait)"
            self.logger.warning("webhook attempt failed; will retry", metadata: metadata)
        }
    }

    /// Runs `body`, throwing `Timeout` if it has not finished within `milliseconds`. The body is then cancelled
    /// but not waited for, so an HTTP client slow to notice the cancellation cannot stretch the attempt.
    static func withTimeout<T: Sendable>(
        milliseconds: UInt64, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = TimeoutRace<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.start(continuation)
                let work = Task {
                    do {
                        race.finish(.success(try await body()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
                let timer = Task {
                    try? await Task.sleep(for: .milliseconds(Int64(milliseconds)))
                    race.finish(.failure(Timeout()))
                }
                race.attach(work: work, timer: timer)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    /// `text` cut to `WebhookLimits.lastErrorBytesMax` bytes, on a character boundary.
    static func truncated(_ text: String) -> String {
        guard text.utf8.count > WebhookLimits.lastErrorBytesMax else { return text }
        var result = ""
        for character in text {
            guard result.utf8.count + character.utf8.count <= WebhookLimits.lastErrorBytesMax else { break }
            result.append(character)
        }
        return result
    }
}

/// The first of an attempt's outcome, its deadline and its cancellation to arrive wins; the others are cancelled.
final class TimeoutRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Registers the waiting continuation; resumes it at once if the race is already decided.
    func start(_ continuation: CheckedContinuation<T, any Error>) {
        let decided = self.state.withLock { state -> Result<T, any Error>? in
            guard let result = state.result else {
                state.continuation = continuation
                return nil
            }
            return result
        }
        if let decided { continuation.resume(with: decided) }
    }

    /// Keeps the racing tasks so the loser can be cancelled.
    func attach(work: Task<Void, Never>, timer: Task<Void, Never>) {
        let cancelNow = self.state.withLock { state -> Bool in
            state.tasks = [work, timer]
            return state.result != nil
        }
        if cancelNow {
            work.cancel()
            timer.cancel()
        }
    }

    /// Decides the race if it is still open.
    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks) = self.state.withLock {
            state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard state.result == nil else { return (nil, []) }
            state.result = result
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
    }
}
