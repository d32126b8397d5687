extension Money {
    /// Parses a plain decimal string (`"1500"`, `"12.5"`, `"-0.05"`) into exact minor units.
    ///
    /// Accepted: an optional leading `-`, one or more digits, and optionally `.` followed by one or more
    /// digits, at most the currency's exponent of them. Nothing is rounded: extra precision is an error.
    public init(decimal text: String, currency: Currency) throws(Money.Error) {
        let bytes = Array(text.utf8)
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index += 1 }
        let integerStart = index
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        let integerDigits = bytes[integerStart..<index]
        var fractionDigits = bytes[index..<index]
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            fractionDigits = bytes[fractionStart..<index]
            guard !fractionDigits.isEmpty else { throw .invalidDecimal(text) }
        }
        guard !integerDigits.isEmpty, index == bytes.count else { throw .invalidDecimal(text) }
        guard fractionDigits.count <= currency.exponent else {
            throw .tooManyFractionDigits(given: fractionDigits.count, allowed: currency.exponent)
        }
        // Accumulate the magnitude as a negative number so that Int64.min parses without overflow.
        var accumulator: Int64 = 0
        func push(_ digit: Int64) throws(Money.Error) {
            let (shifted, overflow1) = accumulator.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(digit)
            if overflow1 || overflow2 { throw .overflow }
            accumulator = next
        }
        for byte in integerDigits { try push(Int64(byte - UInt8(ascii: "0"))) }
        for byte in fractionDigits { try push(Int64(byte - UInt8(ascii: "0"))) }
        for _ in fractionDigits.count..<currency.exponent { try push(0) }
        if negative {
            self.init(minorUnits: accumulator, currency: currency)
        } else {
            guard accumulator != .min else { throw .overflow }
            self.init(minorUnits: -accumulator, currency: currency)
        }
    }

    /// The canonical decimal string: exactly `exponent` fraction digits, no grouping, `-` for negatives.
    public var decimalString: String {
        let magnitude = self.minorUnits.magnitude
        var digits = String(magnitude)
        let exponent = self.currency.exponent
        if exponent > 0 {
            if digits.count <= exponent {
                digits = String(repeating: "0", count: exponent - digits.count + 1) + digits
            }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -exponent))
        }
        return self.minorUnits < 0 ? "-" + digits : digits
    }
}
