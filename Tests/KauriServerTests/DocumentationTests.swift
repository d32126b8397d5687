import Foundation
import KauriEscrow
import KauriHTTP
import KauriIdentity
import KauriLedger
import KauriPayments
import KauriServer
import KauriWebhooks
import Testing

@Suite("Documentation")
struct DocumentationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("docs/ERRORS.md lists every error code with its status")
    func errorsDocumented() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/ERRORS.md"), encoding: .utf8)
        for code in ErrorCode.platform + [
            ErrorCode.unauthenticated, .forbidden, .rateLimited, .reauthenticationRequired,
        ] + LedgerErrorCodes.all
            + IdentityErrorCodes.all + IdempotencyErrorCodes.all + WebhookErrorCodes.all + PaymentErrorCodes.all
            + EscrowErrorCodes.all
        {
            #expect(
                text.contains("| `\(code.rawValue)` | \(code.status) |"), "\(code.rawValue) missing from docs/ERRORS.md"
            )
        }
    }

    @Test("README's configuration table lists every setting")
    func settingsDocumented() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        for setting in Setting.all {
            #expect(
                text.contains("`--\(setting.flag)`") && text.contains("`\(setting.environmentVariable)`"),
                "\(setting.flag)")
        }
    }
}
