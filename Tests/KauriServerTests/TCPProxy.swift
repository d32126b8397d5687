import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy that a test can cut and restore, to make a database disappear and come back.
final class TCPProxy: Sendable {
    let port: Int
    private let targetHost: String
    private let targetPort: Int
    private let group = MultiThreadedEventLoopGroup.singleton
    private let state = Mutex<(server: (any Channel)?, connections: [any Channel])>((nil, []))

    /// Starts listening on a free port, forwarding to the target.
    init(targetHost: String, targetPort: Int) async throws {
        self.targetHost = targetHost
        self.targetPort = targetPort
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        self.port = probe.localAddress!.port!
        try await probe.close()
        try await self.start()
    }

    /// Accepts connections again.
    func start() async throws {
        let server = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Read nothing from the client until the glue to the target is in place: bytes read before that
            // (the PostgreSQL startup message) would fall off the pipeline and the handshake would hang.
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                self.state.withLock { $0.connections.append(inbound) }
                let targetHost = self.targetHost
                let targetPort = self.targetPort
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: targetHost, port: targetPort)
                    .flatMap { outbound in
                        self.state.withLock { $0.connections.append(outbound) }
                        let (inboundGlue, outboundGlue) = GlueHandler.pair()
                        return inbound.pipeline.addHandler(inboundGlue).flatMap {
                            outbound.pipeline.addHandler(outboundGlue)
                        }.flatMap {
                            inbound.setOption(.autoRead, value: true)
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: self.port).get()
        self.state.withLock { $0.server = server }
    }

    /// Stops accepting and cuts every open connection.
    func stop() async {
        let (server, connections) = self.state.withLock { state in
            defer { state = (nil, []) }
            return (state.server, state.connections)
        }
        try? await server?.close()
        for connection in connections { try? await connection.close() }
    }
}

/// Copies bytes between two channels (after SwiftNIO's connect-proxy example).
final class GlueHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?

    static func pair() -> (GlueHandler, GlueHandler) {
        let first = GlueHandler()
        let second = GlueHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    private func partnerWrite(_ buffer: ByteBuffer) {
        guard let context = self.context else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.writeAndFlush(NIOAny(buffer), promise: nil) }
    }

    private func partnerClose() {
        guard let context = self.context else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.partner?.partnerWrite(self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) { self.partner?.partnerClose() }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.partner?.partnerClose()
        context.close(promise: nil)
    }
}
