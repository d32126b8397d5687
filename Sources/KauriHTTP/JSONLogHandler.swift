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
        var line: [UInt8] = []
        line.reserveCapacity(256)
        Self.append("{\"timestamp\":\"", to: &line)
        Self.append(self.clock.now().rfc3339, to: &line)
        Self.append("\",\"level\":\"", to: &line)
        Self.append(event.level.rawValue, to: &line)
        Self.append("\",\"label\":", to: &line)
        Self.appendString(self.label, to: &line)
        Self.append(",\"message\":", to: &line)
        Self.appendString(event.message.description, to: &line)
        var merged = self.metadata
        if let extra = event.metadata {
            if merged.isEmpty { merged = extra } else { merged.merge(extra) { _, new in new } }
        }
        for key in merged.keys.sorted() {
            line.append(UInt8(ascii: ","))
            Self.appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.appendValue(merged[key]!, to: &line)
        }
        Self.append("}\n", to: &line)
        self.output.write(line)
    }

    static func append(_ text: String, to line: inout [UInt8]) {
        line.append(contentsOf: text.utf8)
    }

    static func appendValue(_ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        switch value {
        case .string(let text):
            appendString(text, to: &line)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as Int: append(String(number), to: &line)
            case let number as Int64: append(String(number), to: &line)
            case let number as UInt64: append(String(number), to: &line)
            case let number as Double where number.isFinite: append(String(number), to: &line)
            case let flag as Bool: append(flag ? "true" : "false", to: &line)
            default: appendString(convertible.description, to: &line)
            }
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendValue(element, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            line.append(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                appendValue(dictionary[key]!, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `text` as a JSON string literal; bytes that need no escaping are copied as they are.
    static func appendString(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                line.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                ])
            default:
                // UTF-8 multi-byte sequences and printable ASCII are valid inside a JSON string as they are.
                line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}

/// Where log lines go: standard output, or a buffer in tests.
public final class LogOutput: Sendable {
    /// The process's standard output.
    public static let standardOutput = LogOutput(isCapturing: false)

    private let isCapturing: Bool
    private let captured = Mutex<[String]>([])

    private init(isCapturing: Bool) {
        self.isCapturing = isCapturing
    }

    /// A buffer tests can read.
    public static func capture() -> LogOutput { LogOutput(isCapturing: true) }

    /// The captured lines (empty for standard output).
    public var lines: [String] { self.captured.withLock { $0 } }

    func write(_ line: [UInt8]) {
        if self.isCapturing {
            self.captured.withLock { $0.append(String(decoding: line, as: UTF8.self)) }
            return
        }
        line.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
