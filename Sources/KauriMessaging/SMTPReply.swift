import NIOCore

/// One SMTP server reply: a three-digit code and its text lines (RFC 5321 §4.2), multi-line replies joined.
struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The reply code, e.g. 250.
    var code: Int
    /// The text after the code on each line, in order.
    var lines: [String]

    /// 2xx: the command succeeded.
    var isPositiveCompletion: Bool { (200..<300).contains(self.code) }
    /// 3xx: the server waits for more (DATA's 354, AUTH's 334).
    var isPositiveIntermediate: Bool { (300..<400).contains(self.code) }

    /// The code and the lines on one line, for error details.
    var description: String { "\(self.code) \(self.lines.joined(separator: " / "))" }

    /// The keywords after the greeting line of an EHLO reply, upper-cased (`STARTTLS`, `AUTH`, `8BITMIME`…).
    var ehloKeywords: Set<String> {
        Set(self.lines.dropFirst().compactMap { $0.split(separator: " ").first.map { $0.uppercased() } })
    }

    /// The mechanisms an EHLO reply lists after `AUTH`, upper-cased.
    var authMechanisms: Set<String> {
        var mechanisms: Set<String> = []
        for line in self.lines.dropFirst() {
            let words = line.split(separator: " ").map { $0.uppercased() }
            if words.first == "AUTH" {
                mechanisms.formUnion(words.dropFirst())
            }
        }
        return mechanisms
    }
}

/// Splits the server's byte stream into `SMTPReply`s. Lines end in CRLF (a bare LF is tolerated); a line
/// `250-…` continues the reply and `250 …` (or a bare `250`) ends it.
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply

    /// The longest reply line accepted; RFC 5321 allows 512 bytes, servers sometimes send more.
    static let lineByteCountMax = 4_096
    /// The most lines in one reply.
    static let lineCountMax = 256

    /// The reply has a line that is not `ddd`, `ddd text` or `ddd-text`, or is too long.
    struct MalformedReply: Error, CustomStringConvertible {
        var description: String
    }

    private var pending: SMTPReply?

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.lineByteCountMax {
                throw MalformedReply(description: "a reply line is longer than \(Self.lineByteCountMax) bytes")
            }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        var line = buffer.readBytes(length: length + 1)!
        line.removeLast()
        if line.last == UInt8(ascii: "\r") {
            line.removeLast()
        }
        if let reply = try self.consume(line) {
            context.fireChannelRead(Self.wrapInboundOut(reply))
        }
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// Adds one line; returns the reply when the line ends it.
    private mutating func consume(_ line: [UInt8]) throws -> SMTPReply? {
        guard line.count >= 3, line.prefix(3).allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else {
            throw MalformedReply(description: "a reply line does not start with a code")
        }
        let code = Int(String(decoding: line.prefix(3), as: UTF8.self))!
        let separator = line.count > 3 ? line[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw MalformedReply(description: "a reply line has no space or hyphen after its code")
        }
        let text = line.count > 4 ? String(decoding: line[4...], as: UTF8.self) : ""
        var reply = self.pending ?? SMTPReply(code: code, lines: [])
        guard reply.code == code else {
            throw MalformedReply(description: "a multi-line reply changes its code from \(reply.code) to \(code)")
        }
        guard reply.lines.count < Self.lineCountMax else {
            throw MalformedReply(description: "a reply has more than \(Self.lineCountMax) lines")
        }
        reply.lines.append(text)
        if separator == UInt8(ascii: "-") {
            self.pending = reply
            return nil
        }
        self.pending = nil
        return reply
    }
}
