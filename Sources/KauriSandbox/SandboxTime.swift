import KauriCore

/// The date formats the payment providers put on the wire, computed from Kauri's `Timestamp` without Foundation's
/// calendars so the output does not depend on the machine's locale or time zone.
enum SandboxTime {
    /// East Africa Time's offset from UTC; Safaricom writes its timestamps in EAT.
    static let eastAfricaOffsetMilliseconds: UInt64 = 3 * 3_600 * 1_000

    /// `yyyyMMddHHmmss` in East Africa Time, as Daraja's `TransactionDate`, e.g. `20191219102115`.
    static func darajaCompact(_ timestamp: Timestamp) -> String {
        let fields = self.fields(timestamp.adding(milliseconds: self.eastAfricaOffsetMilliseconds))
        return fields.year + fields.month + fields.day + fields.hour + fields.minute + fields.second
    }

    /// `dd.MM.yyyy HH:mm:ss` in East Africa Time, as Daraja's B2C `TransactionCompletedDateTime`.
    static func darajaDotted(_ timestamp: Timestamp) -> String {
        let fields = self.fields(timestamp.adding(milliseconds: self.eastAfricaOffsetMilliseconds))
        return "\(fields.day).\(fields.month).\(fields.year) \(fields.hour):\(fields.minute):\(fields.second)"
    }

    /// `yyyy-MM-dd HH:mm:ss` in East Africa Time, as PayHero's `transaction_date`.
    static func payheroDate(_ timestamp: Timestamp) -> String {
        let fields = self.fields(timestamp.adding(milliseconds: self.eastAfricaOffsetMilliseconds))
        return "\(fields.year)-\(fields.month)-\(fields.day) \(fields.hour):\(fields.minute):\(fields.second)"
    }

    /// The Unix time in seconds of a `yyyyMMddHHmmss` text read as UTC, or `nil` when it is not 14 digits of a valid
    /// date and time.
    static func unixSeconds(compact text: String) -> Int64? {
        let digits = Array(text.utf8)
        guard digits.count == 14, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return nil
        }
        func number(_ offset: Int, _ width: Int) -> Int64 {
            digits[offset..<(offset + width)].reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        }
        let year = number(0, 4)
        let month = number(4, 2)
        let day = number(6, 2)
        let hour = number(8, 2)
        let minute = number(10, 2)
        let second = number(12, 2)
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else {
            return nil
        }
        // Howard Hinnant's civil date → days algorithm (proleptic Gregorian calendar).
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + hour * 3_600 + minute * 60 + second
    }

    /// The zero-padded date and time fields of a timestamp read as UTC, taken from its RFC 3339 form.
    private static func fields(
        _ timestamp: Timestamp
    ) -> (year: String, month: String, day: String, hour: String, minute: String, second: String) {
        let text = Array(timestamp.rfc3339)
        func part(_ range: Range<Int>) -> String { String(text[range]) }
        return (part(0..<4), part(5..<7), part(8..<10), part(11..<13), part(14..<16), part(17..<19))
    }
}
