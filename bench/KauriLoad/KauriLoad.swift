// kauri-load: an HTTP/1.1 load driver for Kauri's benchmarks.
//
// Two modes:
// - fixed concurrency (closed loop, like wrk): every connection sends its next request as soon as the
//   previous answer arrives; use it for the throughput ceiling.
// - fixed arrival rate (open loop, like wrk2): requests are due on a fixed timetable whether or not earlier
//   ones have been answered, and latency is measured from the time each request was *due*, so a stalled
//   server cannot hide its stall (no coordinated omission).
// Latencies go into an HdrHistogram (microseconds, 3 significant digits).
import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

@main
struct KauriLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kauri-load",
        abstract: "HTTP load driver: fixed concurrency or fixed arrival rate, HdrHistogram latencies.")

    @Option(help: "Target URL (http only), e.g. http://127.0.0.1:8080/healthz.")
    var url: String

    @Option(help: "Open connections.")
    var connections = 64

    @Option(help: "Measured seconds.")
    var duration = 10

    @Option(help: "Warm-up seconds before measuring.")
    var warmup = 2

    @Option(help: "Requests per second for the open-loop mode; omit for closed loop.")
    var rate: Int?

    @Option(help: "Event-loop threads of the driver.")
    var threads = 1

    @Option(help: "HTTP method.")
    var method = "GET"

    @Option(name: .customLong("header"), help: "Extra header 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "Request body (sent with Content-Type: application/json).")
    var body: String?

    @Option(help: "Name printed with the result.")
    var label = "run"

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        guard self.connections >= 1, self.connections <= 4_096 else { throw ValidationError("connections: 1–4096") }
        guard self.duration >= 1, self.duration <= 3_600 else { throw ValidationError("duration: 1–3600 s") }
        guard self.warmup >= 0, self.warmup <= 600 else { throw ValidationError("warmup: 0–600 s") }
        if let rate { guard rate >= 1, rate <= 1_000_000 else { throw ValidationError("rate: 1–1000000") } }
        guard Target(self.url) != nil else { throw ValidationError("url must be http://host:port/path") }
    }

    func run() async throws {
        let target = Target(self.url)!
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: self.method), uri: target.path)
        head.headers.add(name: "Host", value: "\(target.host):\(target.port)")
        for header in self.headers {
            let parts = header.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("header must be 'Name: value'") }
            head.headers.add(name: String(parts[0]), value: parts[1].trimmingCharacters(in: .whitespaces))
        }
        if let body = self.body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let sink = ResultSink()
        let now = NIODeadline.now()
        let timing = Timing(
            start: now,
            recordFrom: now + .seconds(Int64(self.warmup)),
            end: now + .seconds(Int64(self.warmup + self.duration)),
            interval: self.rate.map { .nanoseconds(Int64(1_000_000_000) * Int64(self.connections) / Int64($0)) })
        let request = RequestTemplate(head: head, body: self.body)

        var channels: [any Channel] = []
        let connectionCount = self.connections
        for index in 0..<self.connections {
            let channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            LoadHandler(
                                request: request, timing: timing, sink: sink, offset: index,
                                connections: connectionCount))
                    }
                }
                .connect(host: target.host, port: target.port).get()
            channels.append(channel)
        }
        let waitNanoseconds = (timing.end - NIODeadline.now()).nanoseconds
        try await Task.sleep(for: .nanoseconds(max(0, waitNanoseconds) + 200_000_000))
        for channel in channels {
            try? await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.handler(type: LoadHandler.self).finish(at: timing.end)
            }.get()
            try? await channel.close()
        }
        try await group.shutdownGracefully()
        self.report(sink.result(), measuredSeconds: Double(self.duration))
    }

    func report(_ result: ResultSink.Result, measuredSeconds: Double) {
        let histogram = result.histogram
        func ms(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1_000 }
        let throughput = Double(result.completed) / measuredSeconds
        if self.json {
            let fields: [(String, String)] = [
                ("label", "\"\(self.label)\""), ("mode", self.rate == nil ? "\"closed\"" : "\"open\""),
                ("rate", self.rate.map(String.init) ?? "null"), ("connections", String(self.connections)),
                ("seconds", String(self.duration)), ("requests", String(result.completed)),
                ("throughput", String(format: "%.1f", throughput)),
                ("p50_ms", String(format: "%.3f", ms(50))), ("p90_ms", String(format: "%.3f", ms(90))),
                ("p99_ms", String(format: "%.3f", ms(99))), ("p999_ms", String(format: "%.3f", ms(99.9))),
                ("max_ms", String(format: "%.3f", Double(histogram.max) / 1_000)),
                ("errors", String(result.errors)), ("backlog", String(result.backlog)),
            ]
            print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        } else {
            print(
                String(
                    format: "%@: %.0f req/s  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  "
                        + "errors %d  backlog %d",
                    self.label, throughput, ms(50), ms(90), ms(99), ms(99.9), Double(histogram.max) / 1_000,
                    result.errors, result.backlog))
        }
    }
}

/// Where the load goes.
struct Target {
    let host: String
    let port: Int
    let path: String

    init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        self.path = slash == rest.endIndex ? "/" : String(rest[slash...])
        let parts = authority.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { return nil }
        self.host = String(parts[0])
        self.port = port
    }
}

/// The run's fixed instants.
struct Timing: Sendable {
    let start: NIODeadline
    let recordFrom: NIODeadline
    let end: NIODeadline
    /// Per-connection interval between due times in open-loop mode; nil for closed loop.
    let interval: TimeAmount?
}

/// The request every connection sends.
struct RequestTemplate: Sendable {
    let head: HTTPRequestHead
    let body: String?
}

/// Collects every connection's results.
final class ResultSink: Sendable {
    struct Result {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var completed = 0
        var errors = 0
        var backlog = 0
    }

    private let state = Mutex(Result())

    func add(histogram: Histogram<UInt64>, completed: Int, errors: Int, backlog: Int) {
        self.state.withLock { result in
            result.histogram.add(histogram)
            result.completed += completed
            result.errors += errors
            result.backlog += backlog
        }
    }

    func result() -> Result { self.state.withLock { $0 } }
}

/// One connection's driver. Lives on its channel's event loop.
final class LoadHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: RequestTemplate
    private let timing: Timing
    private let sink: ResultSink
    private let offset: Int
    private var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private var completed = 0
    private var errors = 0
    /// Due times of requests not yet sent (open loop).
    private var due: [NIODeadline] = []
    private var dueHead = 0
    /// Due (open loop) or send (closed loop) time of the request in flight.
    private var inFlight: NIODeadline?
    private var status: HTTPResponseStatus = .ok
    private var nextDue: NIODeadline
    private var context: ChannelHandlerContext?
    private var finished = false

    init(request: RequestTemplate, timing: Timing, sink: ResultSink, offset: Int, connections: Int) {
        self.request = request
        self.timing = timing
        self.sink = sink
        self.offset = offset
        // Spread the connections' timetables across one interval so arrivals are even.
        if let interval = timing.interval {
            self.nextDue = timing.start + .nanoseconds(interval.nanoseconds * Int64(offset) / Int64(connections))
        } else {
            self.nextDue = timing.start
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        if self.timing.interval != nil {
            self.scheduleTick(context: context)
        } else {
            self.send(dueAt: .now(), context: context)
        }
        context.fireChannelActive()
    }

    private func scheduleTick(context: ChannelHandlerContext) {
        guard let interval = self.timing.interval, !self.finished else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: self.nextDue) {
            let handler = loopBound.value
            let context = contextBound.value
            guard !handler.finished, handler.nextDue < handler.timing.end else { return }
            handler.due.append(handler.nextDue)
            handler.nextDue = handler.nextDue + interval
            if handler.inFlight == nil { handler.sendNextDue(context: context) }
            handler.scheduleTick(context: context)
        }
    }

    private func sendNextDue(context: ChannelHandlerContext) {
        guard self.dueHead < self.due.count else { return }
        let dueAt = self.due[self.dueHead]
        self.dueHead += 1
        if self.dueHead > 1_024 {
            self.due.removeFirst(self.dueHead)
            self.dueHead = 0
        }
        self.send(dueAt: dueAt, context: context)
    }

    private func send(dueAt: NIODeadline, context: ChannelHandlerContext) {
        guard !self.finished, NIODeadline.now() < self.timing.end else { return }
        self.inFlight = dueAt
        context.write(self.wrapOutboundOut(.head(self.request.head)), promise: nil)
        if let body = self.request.body {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        }
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = head.status
        case .body:
            break
        case .end:
            let now = NIODeadline.now()
            if let dueAt = self.inFlight, now >= self.timing.recordFrom, now <= self.timing.end, !self.finished {
                self.histogram.record(UInt64(max(0, (now - dueAt).nanoseconds / 1_000)))
                if self.status.code >= 200 && self.status.code < 400 {
                    self.completed += 1
                } else {
                    self.errors += 1
                }
            }
            self.inFlight = nil
            if self.timing.interval != nil {
                self.sendNextDue(context: context)
            } else {
                self.send(dueAt: .now(), context: context)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors += 1
        context.close(promise: nil)
    }

    /// Stops sending and hands the results over. Requests still due or in flight count as backlog and are
    /// recorded with the latency they had reached by the end (a lower bound), so a stall shows in the tail.
    func finish(at end: NIODeadline) {
        guard !self.finished else { return }
        self.finished = true
        var backlog = 0
        var pending = Array(self.due[self.dueHead...])
        if let inFlight = self.inFlight { pending.append(inFlight) }
        for dueAt in pending where dueAt >= self.timing.recordFrom && dueAt < end {
            self.histogram.record(UInt64(max(0, (end - dueAt).nanoseconds / 1_000)))
            backlog += 1
        }
        self.sink.add(histogram: self.histogram, completed: self.completed, errors: self.errors, backlog: backlog)
    }
}
