import Foundation
import KauriCore
import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line to standard output:
/// `{"timestamp":…,"level":…,"label":…,"message":…,<metadata>}`.
///
/// Each line is written with a single `write(2)`, so lines from concurrent tasks never interleave.
public struct JSONLogHandler: LogHandler {
    /// The logger's label (`kauri.http`).
    public let label: String
    /// The lowest level written.
    public var logLevel: Logger.Level
    /// Metadata added to every line of this logger.
    public var metadata: Logger.Metadata = [:]
    private let output: LogOutput
    private let clock: any WallClock

    /// Creates a handler writing to standard output.
    public init(label: String, level: Logger.Level, clock: any WallClock = SystemClock()) {
        self.init(label: label, level: level, output: .standardOutput, clock: clock)
    }

    /// Creates a handler writing to `output`.
    public init(label: String, level: Logger.Level, output: LogOutput, clock: any WallClock) {
        self.label = label
        self.logLevel = level
        self.output = output
        self.clock = clock
    }

    /// Reads or sets one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        var line = "{\"timestamp\":\"\(self.clock.now().rfc3339)\",\"level\":\"\(event.level.rawValue)\""
        line += ",\"label\":"
        Self.appendString(self.label, to: &line)
        line += ",\"message\":"
        Self.appendString(event.message.description, to: &line)
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for key in merged.keys.sorted() {
            line += ","
            Self.appendString(key, to: &line)
            line += ":"
            Self.appendValue(merged[key]!, to: &line)
        }
        line += "}\n"
        self.output.write(line)
    }

    static func appendValue(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text):
            appendString(text, to: &line)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as Int: line += String(number)
            case let number as Int64: line += String(number)
            case let number as UInt64: line += String(number)
            case let number as Double where number.isFinite: line += String(number)
            case let flag as Bool: line += flag ? "true" : "false"
            default: appendString(convertible.description, to: &line)
            }
        case .array(let values):
            line += "["
            for (index, element) in values.enumerated() {
                if index > 0 { line += "," }
                appendValue(element, to: &line)
            }
            line += "]"
        case .dictionary(let dictionary):
            line += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                appendValue(dictionary[key]!, to: &line)
            }
            line += "}"
        }
    }

    /// Appends `text` as a JSON string literal.
    static func appendString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }
}

/// Where log lines go: standard output, or a buffer in tests.
public final class LogOutput: Sendable {
    /// The process's standard output.
    public static let standardOutput = LogOutput(captured: nil)

    private let isCapturing: Bool
    private let captured = Mutex<[String]>([])

    init(captured: [String]?) {
        self.isCapturing = captured != nil
    }

    /// A buffer tests can read.
    public static func capture() -> LogOutput { LogOutput(captured: []) }

    /// The captured lines (empty for standard output).
    public var lines: [String] { self.captured.withLock { $0 } }

    func write(_ line: String) {
        if self.isCapturing {
            self.captured.withLock { $0.append(line) }
            return
        }
        var line = line
        line.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
