import Foundation
import NIOPosix
import Testing

/// The hosted pages in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`, driven by
/// selenium from PyPI through scripts/browser_checkout.py) opens `/pay/{id}`, pays through the sandbox, and sees the
/// escrow as paid on `/track/{id}`.
///
/// `.ci/run` installs the browser and sets `KAURI_BROWSER_TESTS=require`, so CI fails rather than skips when it is
/// missing; elsewhere the test runs when the browser is installed.
@Suite("Escrow pages in a browser", .serialized)
struct EscrowBrowserTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/browser_checkout.py")

    static var browserInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
    }

    static var enabled: Bool {
        Self.browserInstalled || ProcessInfo.processInfo.environment["KAURI_BROWSER_TESTS"] == "require"
    }

    @Test(
        "headless Chromium pays /pay/{id} through the sandbox and sees the escrow paid on /track/{id}",
        .enabled(if: Self.enabled), .timeLimit(.minutes(3)))
    func payInBrowser() async throws {
        #expect(Self.browserInstalled, "install Debian's chromium and chromium-driver (see .ci/run)")
        try await EscrowFlowTests.run { harness in
            let seller = try await EscrowFlowTests.signIn(EscrowFlowTests.sellerPhone, harness)
            let link = try await harness.send(
                .post, "/v1/payment-links", ["title": "Kikoy scarf", "price": 150_000, "currency": "KES"], token: seller
            )
            #expect(link.status == .created, "\(link.json)")

            let (status, output, errors) = try await Self.runBrowser(
                base: "http://127.0.0.1:\(harness.port)", linkID: link.id, phone: "0700000000", name: "Amina")
            #expect(status == 0, "browser: \(output) \(errors)")
            let result = try #require(
                try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output) \(errors)")
            #expect(result["pay_title"] as? String == "Pay: Kikoy scarf")
            #expect((result["status"] as? String)?.hasPrefix("Paid") == true, "\(result)")
            let escrowID = try #require(result["escrow_id"] as? String)

            let escrow = try await harness.send(.get, "/v1/escrows/\(escrowID)", token: seller)
            #expect(escrow["status"] as? String == "paid", "\(escrow.json)")
            #expect(escrow["link_id"] as? String == link.id)
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM escrows") == 1, "one submit, one escrow")
            #expect(try await EscrowFlowTests.balance("escrow_holding:platform:KES", harness) == 150_000)
        }
    }

    /// Runs the browser script on NIO's thread pool (waiting for a subprocess blocks a thread).
    static func runBrowser(
        base: String, linkID: String, phone: String, name: String
    ) async throws -> (Int32, String, String) {
        try await NIOThreadPool.singleton.runIfActive {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Self.script.path, base, linkID, phone, name]
            let stdout = Pipe()
            let stderr = Pipe()
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output, errors)
        }
    }
}
