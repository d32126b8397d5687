import Foundation
import Synchronization

/// A point in UTC time with millisecond resolution, as Kauri stores and compares it.
public struct Timestamp: Hashable, Sendable, Comparable, Codable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public let unixMilliseconds: UInt64

    /// Creates a timestamp from Unix milliseconds.
    public init(unixMilliseconds: UInt64) {
        self.unixMilliseconds = unixMilliseconds
    }

    /// Orders by time.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.unixMilliseconds < rhs.unixMilliseconds }

    /// The RFC 3339 form in UTC with milliseconds, e.g. `2026-11-21T22:06:29.120Z`.
    public var rfc3339: String {
        let milliseconds = self.unixMilliseconds % 1_000
        let seconds = self.unixMilliseconds / 1_000
        let days = Int64(seconds / 86_400)
        let secondOfDay = Int(seconds % 86_400)
        // Howard Hinnant's days → civil date algorithm (proleptic Gregorian calendar).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int64, at offset: Int, width: Int) {
            var value = value
            for index in stride(from: offset + width - 1, through: offset, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(year, at: 0, width: 4)
        put(month, at: 5, width: 2)
        put(day, at: 8, width: 2)
        put(Int64(secondOfDay / 3_600), at: 11, width: 2)
        put(Int64(secondOfDay / 60 % 60), at: 14, width: 2)
        put(Int64(secondOfDay % 60), at: 17, width: 2)
        put(Int64(milliseconds), at: 20, width: 3)
        let separators: [(Int, UInt8)] = [
            (4, UInt8(ascii: "-")), (7, UInt8(ascii: "-")), (10, UInt8(ascii: "T")), (13, UInt8(ascii: ":")),
            (16, UInt8(ascii: ":")), (19, UInt8(ascii: ".")), (23, UInt8(ascii: "Z")),
        ]
        for (offset, separator) in separators { bytes[offset] = separator }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The timestamp a duration later.
    public func adding(milliseconds: UInt64) -> Timestamp {
        Timestamp(unixMilliseconds: self.unixMilliseconds + milliseconds)
    }
}

/// The source of the current wall-clock time. Injected everywhere time matters so tests control it.
public protocol WallClock: Sendable {
    /// The current time.
    func now() -> Timestamp
}

/// The operating system's real-time clock.
public struct SystemClock: WallClock {
    /// Creates the clock.
    public init() {}

    /// The current time from `clock_gettime(CLOCK_REALTIME)`.
    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(unixMilliseconds: UInt64(spec.tv_sec) * 1_000 + UInt64(spec.tv_nsec) / 1_000_000)
    }
}

/// A clock that only moves when told to, for tests.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    /// Creates the clock at a given time.
    public init(_ start: Timestamp) {
        self.current = Mutex(start)
    }

    /// The time the clock is set to.
    public func now() -> Timestamp { self.current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(milliseconds: UInt64) {
        self.current.withLock { $0 = $0.adding(milliseconds: milliseconds) }
    }
}
