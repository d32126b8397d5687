import Foundation
import Hummingbird
import Synchronization

/// Resend's `POST /emails`: `Authorization: Bearer <api key>` (missing → 401 `missing_api_key`, wrong → 403
/// `invalid_api_key`), JSON `{"from", "to" (a string or a list), "subject", "text" or "html"}`. Accepts with 200
/// `{"id"}`; refuses with `{"statusCode", "name", "message"}`. An `Idempotency-Key` seen before with the same
/// body answers the first id again without sending; with another body, 409.
struct ResendSimulator: Sendable {
    static let recipientCountMax = 50

    let log: SandboxMessageLog
    let faults: SandboxFaults
    let credentials: SandboxCredentials
    /// Idempotency key → (request body, email id).
    private let idempotency = IdempotencyStore()

    init(log: SandboxMessageLog, faults: SandboxFaults, credentials: SandboxCredentials) {
        self.log = log
        self.faults = faults
        self.credentials = credentials
    }

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/emails") { request, _ in
            try await self.send(request)
        }
    }

    private func send(_ request: Request) async throws -> Response {
        if let response = try await SandboxHTTP.applyFault(self.faults, .resend, errorResponse: self.fault) {
            return response
        }
        guard let token = SandboxHTTP.bearerToken(of: request) else {
            return self.error(401, "missing_api_key", "Missing API key in the authorization header")
        }
        guard SandboxHTTP.matches(token, self.credentials.resendAPIKey) else {
            return self.error(403, "invalid_api_key", "API key is invalid")
        }
        let body = try await SandboxHTTP.body(of: request)
        guard SandboxHTTP.hasContentType(request, "application/json"),
            let email = try? JSONDecoder().decode(SendRequest.self, from: Data(body))
        else {
            return self.error(400, "invalid_request", "The request body is not valid JSON")
        }
        guard let from = email.from, !from.isEmpty else {
            return self.error(422, "missing_required_field", "Missing `from` field.")
        }
        guard let recipients = email.to?.addresses, !recipients.isEmpty else {
            return self.error(422, "missing_required_field", "Missing `to` field.")
        }
        guard recipients.count <= Self.recipientCountMax, recipients.allSatisfy({ $0.contains("@") }) else {
            return self.error(422, "validation_error", "Invalid `to` field.")
        }
        guard let subject = email.subject, !subject.isEmpty else {
            return self.error(422, "missing_required_field", "Missing `subject` field.")
        }
        guard let text = email.text ?? email.html else {
            return self.error(422, "missing_required_field", "Missing `html` or `text` field.")
        }
        if let rejected = recipients.first(where: { self.faults.isRejected($0) }) {
            return self.error(422, "validation_error", "Invalid `to` field: \(rejected) cannot receive email.")
        }
        let key = SandboxHTTP.header("Idempotency-Key", of: request)
        let id = UUID().uuidString.lowercased()
        if let key {
            switch self.idempotency.claim(key, body: body, id: id) {
            case .new: break
            case .replay(let firstID): return SandboxHTTP.json(200, SendResponse(id: firstID))
            case .conflict:
                return self.error(409, "invalid_idempotent_request", "Same idempotency key used with a different body.")
            }
        }
        for recipient in recipients {
            self.log.record(
                .resend, to: recipient, from: from, body: text, subject: subject, providerMessageID: id,
                idempotencyKey: key)
        }
        return SandboxHTTP.json(200, SendResponse(id: id))
    }

    private func fault(_ status: Int) -> Response {
        switch status {
        case 401: self.error(401, "missing_api_key", "Missing API key in the authorization header")
        case 429: self.error(429, "rate_limit_exceeded", "Too many requests.")
        case 500...: self.error(status, "application_error", "Sandbox fault: HTTP \(status)")
        default: self.error(status, "validation_error", "Sandbox fault: HTTP \(status)")
        }
    }

    private func error(_ status: Int, _ name: String, _ message: String) -> Response {
        SandboxHTTP.json(status, ErrorBody(statusCode: status, name: name, message: message))
    }

    /// `to` as Resend takes it: one address or a list.
    private enum Recipients: Decodable {
        case one(String)
        case many([String])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) {
                self = .one(one)
            } else {
                self = .many(try container.decode([String].self))
            }
        }

        var addresses: [String] {
            switch self {
            case .one(let address): [address]
            case .many(let addresses): addresses
            }
        }
    }

    private struct SendRequest: Decodable {
        var from: String?
        var to: Recipients?
        var subject: String?
        var text: String?
        var html: String?
    }

    private struct SendResponse: Encodable {
        var id: String
    }

    private struct ErrorBody: Encodable {
        var statusCode: Int
        var name: String
        var message: String
    }

    /// The idempotency keys seen, with the body and id of their first request.
    private final class IdempotencyStore: Sendable {
        enum Claim {
            case new
            case replay(String)
            case conflict
        }

        /// The most keys remembered; past it the store starts afresh (Resend itself forgets keys after 24 hours).
        static let keyCountMax = 10_000

        private let entries = Mutex<[String: (body: [UInt8], id: String)]>([:])

        func claim(_ key: String, body: [UInt8], id: String) -> Claim {
            self.entries.withLock { entries in
                guard let first = entries[key] else {
                    if entries.count >= Self.keyCountMax {
                        entries.removeAll()
                    }
                    entries[key] = (body, id)
                    return .new
                }
                return first.body == body ? .replay(first.id) : .conflict
            }
        }
    }
}
