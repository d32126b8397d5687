import Foundation

/// Keeps webhooks from being turned against the operator's own network (SSRF): a URL must be absolute http(s)
/// without credentials, and every address its host resolves to must be public.
///
/// It runs at registration and again before every attempt, so a DNS answer that changes to an internal address
/// after registration is refused at delivery. For `http` URLs the attempt then connects to the very address
/// that was checked (the `Host` header keeps the name), which closes the window between check and connect;
/// for `https` the TLS name check needs the host name, so the HTTP client resolves it again — keep webhook
/// workers where internal services are unreachable, or behind an egress proxy, for defence in depth.
public struct WebhookURLGuard: Sendable {
    /// A URL that passed: its parts and the addresses it resolved to.
    public struct Target: Sendable, Hashable {
        /// The URL as registered.
        public var url: String
        /// `http` or `https`.
        public var scheme: String
        /// The host name or IP literal (without brackets).
        public var host: String
        /// The explicit port, if the URL has one.
        public var port: Int?
        /// The checked addresses (empty when private addresses are allowed and the host was not resolved).
        public var addresses: [WebhookIPAddress]

        /// The URL to connect to and the `Host` header to send: for `http`, the first checked address with the
        /// original host in the header; otherwise the URL unchanged and no header override.
        func connection() -> (url: String, hostHeader: String?) {
            guard self.scheme == "http", let address = self.addresses.first,
                var components = URLComponents(string: self.url)
            else { return (self.url, nil) }
            let hostHeader = self.port.map { "\(Self.bracketed(self.host)):\($0)" } ?? Self.bracketed(self.host)
            components.percentEncodedHost = address.urlHost
            guard let pinned = components.string else { return (self.url, nil) }
            return (pinned, hostHeader)
        }

        private static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
    }

    /// Why a URL was refused.
    public enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        /// Not an absolute URL with a host, too long, or with credentials.
        case malformed(String)
        /// Not http or https.
        case schemeNotAllowed(String)
        /// The host did not resolve.
        case unresolvable(String)
        /// The host is, or resolves to, an internal address.
        case forbiddenAddress(host: String, address: WebhookIPAddress)

        /// Whether the URL is simply malformed (registration answers `webhook.url_invalid`) rather than refused by
        /// policy (`webhook.url_not_allowed`).
        public var isMalformed: Bool {
            if case .malformed = self { return true }
            return false
        }

        /// A sentence for the operator; it names the address so they can see what DNS answered.
        public var description: String {
            switch self {
            case .malformed(let why): "the URL is not usable: \(why)"
            case .schemeNotAllowed(let scheme): "only http and https URLs are allowed, not '\(scheme)'"
            case .unresolvable(let host): "the host '\(host)' does not resolve"
            case .forbiddenAddress(let host, let address):
                "the host '\(host)' resolves to \(address), an internal address webhooks may not reach"
            }
        }
    }

    let resolver: any WebhookHostResolver
    let allowPrivateAddresses: Bool

    /// A guard resolving with `resolver`. `allowPrivateAddresses` turns the address check off (the sandbox and
    /// tests, whose receivers listen on 127.0.0.1); the URL checks stay.
    public init(resolver: any WebhookHostResolver = SystemHostResolver(), allowPrivateAddresses: Bool = false) {
        self.resolver = resolver
        self.allowPrivateAddresses = allowPrivateAddresses
    }

    /// Checks a URL: shape first, then every address its host resolves to.
    public func check(_ url: String) async throws(Refusal) -> Target {
        guard url.utf8.count <= WebhookLimits.urlBytesMax else {
            throw .malformed("longer than \(WebhookLimits.urlBytesMax) bytes")
        }
        guard let components = URLComponents(string: url), let rawScheme = components.scheme else {
            throw .malformed("not an absolute URL")
        }
        let scheme = rawScheme.lowercased()
        guard scheme == "http" || scheme == "https" else { throw .schemeNotAllowed(scheme) }
        guard var host = components.host, !host.isEmpty else { throw .malformed("no host") }
        guard components.user == nil && components.password == nil else {
            throw .malformed("credentials in the URL are not supported")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        host = host.lowercased()
        if let port = components.port, !(1...65_535).contains(port) { throw .malformed("port out of range") }
        var target = Target(url: url, scheme: scheme, host: host, port: components.port, addresses: [])
        if let literal = WebhookIPAddress(host) {
            target.addresses = [literal]
        } else {
            // Trailing dots and numeric forms like `2130706433` or `0x7f.1` would be read by some resolvers as
            // addresses; refuse names that are not plain DNS labels rather than guess how they resolve.
            guard Self.isPlainHostName(host) else { throw .malformed("'\(host)' is not a host name") }
            if self.allowPrivateAddresses { return target }
            do {
                target.addresses = try await self.resolver.resolve(host: host)
            } catch {
                throw .unresolvable(host)
            }
        }
        guard !target.addresses.isEmpty else { throw .unresolvable(host) }
        guard !self.allowPrivateAddresses else { return target }
        if let forbidden = target.addresses.first(where: \.isForbidden) {
            throw .forbiddenAddress(host: host, address: forbidden)
        }
        return target
    }

    /// Letters, digits, hyphens and dots, with a label that is not all digits at the end (a top-level domain
    /// is never numeric, so this refuses every numeric or hex shorthand of an IPv4 address).
    static func isPlainHostName(_ host: String) -> Bool {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard host.utf8.count <= 253, let last = labels.last else { return false }
        let labelsValid = labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { byte in
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                }
        }
        let lastIsNumeric = last.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        let lastIsHex = last.hasPrefix("0x")
        return labelsValid && !lastIsNumeric && !lastIsHex
    }
}
