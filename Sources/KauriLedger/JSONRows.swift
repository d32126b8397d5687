/// Builds a JSON array of rows (`[["id",1,null],…]`) to pass a whole batch to SQLite as one parameter.
///
/// One JSON parameter read by `json_each` replaces thousands of individually encoded binds: SQLite parses the
/// document in C, and the statement text stays short and fixed.
struct JSONRows {
    private(set) var text = "["
    private var rowIsOpen = false
    private var rowHasValue = false
    private var hasRow = false

    init(capacity: Int) {
        self.text.reserveCapacity(capacity)
    }

    /// Starts a row.
    mutating func beginRow() {
        precondition(!self.rowIsOpen)
        self.text += self.hasRow ? ",[" : "["
        self.hasRow = true
        self.rowIsOpen = true
        self.rowHasValue = false
    }

    /// Ends the row.
    mutating func endRow() {
        precondition(self.rowIsOpen)
        self.text += "]"
        self.rowIsOpen = false
    }

    /// Appends a string (escaped), or null.
    mutating func add(_ value: String?) {
        self.separator()
        guard let value else {
            self.text += "null"
            return
        }
        self.text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": self.text += "\\\""
            case "\\": self.text += "\\\\"
            case "\n": self.text += "\\n"
            case "\r": self.text += "\\r"
            case "\t": self.text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                self.text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: self.text.unicodeScalars.append(scalar)
            }
        }
        self.text += "\""
    }

    /// Appends an integer, or null.
    mutating func add(_ value: Int64?) {
        self.separator()
        if let value { self.text += String(value) } else { self.text += "null" }
    }

    /// The finished document.
    mutating func finish() -> String {
        precondition(!self.rowIsOpen)
        self.text += "]"
        return self.text
    }

    private mutating func separator() {
        precondition(self.rowIsOpen)
        if self.rowHasValue { self.text += "," }
        self.rowHasValue = true
    }
}

extension JSONRows {
    /// A JSON array of strings: `["a","b"]`.
    static func strings(_ values: some Sequence<String>) -> String {
        var rows = JSONRows(capacity: 64)
        var text = "["
        var first = true
        for value in values {
            rows.text = ""
            rows.rowIsOpen = true
            rows.rowHasValue = false
            rows.add(value)
            text += first ? rows.text : "," + rows.text
            first = false
        }
        return text + "]"
    }
}
