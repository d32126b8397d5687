import KauriWebhooks
import Testing

/// The SSRF guard: every internal range refused, as a literal and as a DNS answer; only http(s).
@Suite("Webhook URL guard")
struct WebhookURLGuardTests {
    static let forbidden = [
        "127.0.0.1", "127.255.255.254", "::1", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
        "192.168.0.1", "192.168.255.255", "169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0",
        "0.1.2.3", "::", "fc00::1", "fdff:ffff::1", "fe80::1", "febf::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
        "::ffff:169.254.169.254", "::ffff:192.168.1.1", "::ffff:172.16.0.1", "::ffff:100.64.0.1", "::ffff:0.0.0.0",
        "64:ff9b::7f00:1", "::127.0.0.1", "224.0.0.1", "255.255.255.255",
    ]
    static let allowed = ["93.184.216.34", "172.32.0.1", "172.15.255.255", "100.128.0.1", "2606:4700::1111"]

    @Test("every forbidden address is refused as a literal URL host", arguments: Self.forbidden)
    func literalRefused(_ address: String) async throws {
        let host = address.contains(":") ? "[\(address)]" : address
        let guardian = WebhookURLGuard(resolver: StubResolver())
        await #expect(throws: WebhookURLGuard.Refusal.self) { try await guardian.check("https://\(host)/hook") }
    }

    @Test("every forbidden address is refused as a DNS answer", arguments: Self.forbidden)
    func resolvedRefused(_ address: String) async throws {
        let guardian = WebhookURLGuard(resolver: StubResolver(["hooks.example.com": ["93.184.216.34", address]]))
        do {
            _ = try await guardian.check("https://hooks.example.com/hook")
            Issue.record("\(address) was allowed")
        } catch {
            #expect(error == .forbiddenAddress(host: "hooks.example.com", address: WebhookIPAddress(address)!))
        }
    }

    @Test("public addresses pass", arguments: Self.allowed)
    func publicAllowed(_ address: String) async throws {
        let guardian = WebhookURLGuard(resolver: StubResolver(["hooks.example.com": [address]]))
        let target = try await guardian.check("https://hooks.example.com/hook")
        #expect(target.addresses == [WebhookIPAddress(address)!])
    }

    @Test("only http and https, no credentials, no numeric host shorthands, no unresolvable hosts")
    func shapes() async throws {
        let guardian = WebhookURLGuard(resolver: StubResolver(["hooks.example.com": ["93.184.216.34"]]))
        for url in ["ftp://hooks.example.com/x", "file:///etc/passwd", "gopher://hooks.example.com/", "javascript:x"] {
            await #expect(throws: WebhookURLGuard.Refusal.self, "\(url)") { try await guardian.check(url) }
        }
        for url in [
            "not a url", "/relative", "http://user:pass@hooks.example.com/", "http://2130706433/",
            "http://0x7f000001/", "http://127.1/",
        ] {
            do {
                _ = try await guardian.check(url)
                Issue.record("\(url) was allowed")
            } catch {
                #expect(
                    error.isMalformed || error == .forbiddenAddress(host: "127.1", address: .v4(0x7F00_0001)), "\(url)")
            }
        }
        await #expect(throws: WebhookURLGuard.Refusal.unresolvable("nowhere.example.com")) {
            try await guardian.check("https://nowhere.example.com/")
        }
        #expect(try await guardian.check("HTTPS://Hooks.Example.com:8443/x").port == 8443)
    }

    @Test("allowPrivateAddresses lets loopback through but keeps the scheme check")
    func sandboxMode() async throws {
        let guardian = WebhookURLGuard(resolver: StubResolver(), allowPrivateAddresses: true)
        _ = try await guardian.check("http://127.0.0.1:8080/hook")
        _ = try await guardian.check("http://localhost:8080/hook")
        await #expect(throws: WebhookURLGuard.Refusal.schemeNotAllowed("ftp")) {
            try await guardian.check("ftp://127.0.0.1/")
        }
    }
}
