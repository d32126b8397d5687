import NIOCore
import NIOPosix
import NIOSSL

/// One SMTP connection over SwiftNIO: command lines out, parsed replies in, each reply under a deadline, and
/// the in-place TLS upgrade that STARTTLS needs.
///
/// The pipeline is `[TLS] → IdleStateHandler → SMTPReadTimeoutHandler → SMTPReplyDecoder → async channel`; the
/// TLS handler sits first from the start for implicit TLS, or is put first after a STARTTLS reply.
struct SMTPConnection {
    /// How to reach the server.
    struct Endpoint: Sendable {
        var host: String
        var port: Int
        var connectTimeout: Duration
        /// The longest wait for any one reply.
        var replyTimeout: Duration
        /// TLS from the first byte (port 465 style), when set.
        var implicitTLS: SMTPTLS?
    }

    private var replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel
    /// Whether the conversation is encrypted now.
    private(set) var isEncrypted: Bool

    private init(
        replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        channel: any Channel,
        isEncrypted: Bool
    ) {
        self.replies = replies
        self.outbound = outbound
        self.channel = channel
        self.isEncrypted = isEncrypted
    }

    /// Connects, runs `body` with the connection, and closes it whatever happens.
    static func withConnection<Result: Sendable>(
        to endpoint: Endpoint,
        on eventLoopGroup: any EventLoopGroup,
        _ body: (inout SMTPConnection) async throws -> Result
    ) async throws -> Result {
        let replyTimeout = TimeAmount(endpoint.replyTimeout)
        let implicitTLS = endpoint.implicitTLS
        let asyncChannel = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(endpoint.connectTimeout))
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let implicitTLS {
                        try operations.addHandler(implicitTLS.makeHandler())
                    }
                    try operations.addHandler(IdleStateHandler(readTimeout: replyTimeout))
                    try operations.addHandler(SMTPReadTimeoutHandler())
                    try operations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    return try NIOAsyncChannel<SMTPReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await asyncChannel.executeThenClose { inbound, outbound in
            var connection = SMTPConnection(
                replies: inbound.makeAsyncIterator(), outbound: outbound, channel: asyncChannel.channel,
                isEncrypted: implicitTLS != nil)
            return try await body(&connection)
        }
    }

    /// The next reply from the server.
    /// - Throws: `SMTPSessionError.timeout` when none came in time, `.connectionClosed` when the server hung up.
    mutating func readReply() async throws -> SMTPReply {
        guard let reply = try await self.replies.next() else { throw SMTPSessionError.connectionClosed }
        return reply
    }

    /// Sends one command line (CRLF added) and returns the server's reply.
    mutating func command(_ line: String) async throws -> SMTPReply {
        try await self.outbound.write(ByteBuffer(string: line + "\r\n"))
        return try await self.readReply()
    }

    /// Sends raw bytes, e.g. the DATA payload ending in `CRLF.CRLF`, and returns the server's reply.
    mutating func send(_ bytes: [UInt8]) async throws -> SMTPReply {
        try await self.outbound.write(ByteBuffer(bytes: bytes))
        return try await self.readReply()
    }

    /// Puts TLS in front of the conversation, after the server's 220 reply to STARTTLS. Later writes wait for
    /// the handshake; a failed handshake surfaces as an error from the next `readReply`.
    mutating func startTLS(_ tls: SMTPTLS) async throws {
        let channel = self.channel
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(tls.makeHandler(), position: .first)
        }.get()
        self.isEncrypted = true
    }
}

/// The TLS side of an SMTP connection: the client context and the name to verify.
struct SMTPTLS: Sendable {
    /// The client context, with its trust roots.
    var context: NIOSSLContext
    /// The name sent in SNI and checked against the certificate; `nil` checks the peer's IP address instead.
    var serverHostname: String?

    /// A fresh client handler.
    func makeHandler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: self.context, serverHostname: self.serverHostname)
    }
}

/// Turns the idle handler's "nothing read for the reply timeout" into an error on the channel, which ends the
/// reply stream with `SMTPSessionError.timeout`, and closes the connection.
final class SMTPReadTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireErrorCaught(SMTPSessionError.timeout)
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
