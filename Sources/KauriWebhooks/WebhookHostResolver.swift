import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Resolves a webhook URL's host name to IP addresses. Injected so tests can stub DNS answers, including ones
/// that change between registration and delivery.
public protocol WebhookHostResolver: Sendable {
    /// Every address `host` resolves to (a host name, never an IP literal: the guard parses those itself).
    func resolve(host: String) async throws -> [WebhookIPAddress]
}

/// The system resolver: `getaddrinfo`, run on a NIO thread pool so it never blocks an event loop or a Swift
/// concurrency thread.
public struct SystemHostResolver: WebhookHostResolver {
    /// Why a name did not resolve.
    public struct ResolutionError: Error, Sendable, CustomStringConvertible {
        /// `gai_strerror`'s text.
        public let description: String

        /// An error with a message.
        public init(description: String) {
            self.description = description
        }
    }

    let threadPool: NIOThreadPool

    /// A resolver running on `threadPool` (NIO's shared pool by default).
    public init(threadPool: NIOThreadPool = .singleton) {
        self.threadPool = threadPool
    }

    /// Resolves with `getaddrinfo(host, nil, {SOCK_STREAM})`.
    public func resolve(host: String) async throws -> [WebhookIPAddress] {
        try await self.threadPool.runIfActive { try Self.getAddresses(host) }
    }

    private static func getAddresses(_ host: String) throws -> [WebhookIPAddress] {
        var hints = addrinfo()
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { throw ResolutionError(description: String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(list) }
        var addresses: [WebhookIPAddress] = []
        var cursor = list
        while let entry = cursor, addresses.count < WebhookLimits.resolvedAddressesMax {
            if let socketAddress = entry.pointee.ai_addr {
                switch entry.pointee.ai_family {
                case AF_INET:
                    let value = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        $0.pointee.sin_addr.s_addr
                    }
                    addresses.append(.v4(UInt32(bigEndian: value)))
                case AF_INET6:
                    var value = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        $0.pointee.sin6_addr
                    }
                    addresses.append(.v6(withUnsafeBytes(of: &value) { Array($0) }))
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}
