import Foundation
import KauriCore

/// When attempts happen: a list of delays, each counted from the failure of the attempt before (the first from
/// the emit), with a random jitter so that many failed deliveries do not come back at the same instant.
public struct WebhookRetrySchedule: Sendable, Hashable {
    /// The delay before each attempt, in milliseconds; its count is the number of attempts.
    public var delaysMilliseconds: [UInt64]
    /// The jitter: each delay is moved by up to this fraction either way (0.1 = ±10%).
    public var jitterFraction: Double

    /// A schedule; `delaysMilliseconds` must not be empty.
    public init(delaysMilliseconds: [UInt64], jitterFraction: Double = 0.1) {
        precondition(!delaysMilliseconds.isEmpty, "a schedule has at least one attempt")
        precondition((0.0..<1.0).contains(jitterFraction), "jitter is a fraction below 1")
        self.delaysMilliseconds = delaysMilliseconds
        self.jitterFraction = jitterFraction
    }

    /// The Standard Webhooks example schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and
    /// 24 h after each failure (about 75.5 hours in all), ±10%.
    public static let standard = WebhookRetrySchedule(
        delaysMilliseconds: [
            0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000,
        ])

    /// How many attempts a delivery gets.
    public var attemptsMax: Int { self.delaysMilliseconds.count }

    /// The jittered delay after the failure of attempt `attemptsMade` (1-based) before the next one, or nil when
    /// that was the last attempt.
    public func delayAfterFailure(
        ofAttempt attemptsMade: Int, random: inout some RandomNumberGenerator
    ) -> UInt64? {
        guard attemptsMade >= 1, attemptsMade < self.delaysMilliseconds.count else { return nil }
        let base = Double(self.delaysMilliseconds[attemptsMade])
        let factor = 1.0 + Double.random(in: -self.jitterFraction...self.jitterFraction, using: &random)
        return UInt64((base * factor).rounded())
    }

    /// The delay a `Retry-After` value asks for (delta-seconds or an HTTP date), in milliseconds; nil when it is
    /// neither. A date in the past asks for no delay.
    public static func retryAfterMilliseconds(_ value: String, now: Timestamp) -> UInt64? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let seconds = UInt64(text)
        {
            return seconds * 1_000
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: text) else { return nil }
        let target = date.timeIntervalSince1970 * 1_000
        let current = Double(now.unixMilliseconds)
        return target > current ? UInt64(target - current) : 0
    }
}
