import Foundation
import Hummingbird

/// Hubtel's `POST /v1/messages/send`: Basic authentication with client id and secret, JSON `{"From", "To",
/// "Content"}` with `To` as digits without `+`, sender id at most 11 characters. Accepts with 201 and
/// `{"messageId", "status": 0, …}`; a refused recipient gets 200 with a non-zero `status`.
struct HubtelSimulator: Sendable {
    static let senderIDCharacterCountMax = 11
    static let contentCharacterCountMax = 1_600

    let log: SandboxMessageLog
    let faults: SandboxFaults
    let credentials: SandboxCredentials

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/v1/messages/send") { request, _ in
            try await self.send(request)
        }
    }

    private func send(_ request: Request) async throws -> Response {
        if let response = try await SandboxHTTP.applyFault(self.faults, .hubtel, errorResponse: self.error) {
            return response
        }
        let user = SandboxHTTP.basicCredentials(of: request)
        guard SandboxHTTP.matches(user?.user, self.credentials.hubtelClientID),
            SandboxHTTP.matches(user?.password, self.credentials.hubtelClientSecret)
        else {
            return self.error(401)
        }
        let body = try await SandboxHTTP.body(of: request)
        guard SandboxHTTP.hasContentType(request, "application/json"),
            let message = try? JSONDecoder().decode(SendRequest.self, from: Data(body))
        else {
            return SandboxHTTP.json(400, ErrorBody(message: "The request is invalid."))
        }
        guard (1...Self.senderIDCharacterCountMax).contains(message.from.count) else {
            return SandboxHTTP.json(400, ErrorBody(message: "From must be 1 to 11 characters."))
        }
        guard (8...15).contains(message.to.count), message.to.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return SandboxHTTP.json(400, ErrorBody(message: "To must be the recipient's digits, e.g. 233241234567."))
        }
        guard !message.content.isEmpty, message.content.count <= Self.contentCharacterCountMax else {
            return SandboxHTTP.json(400, ErrorBody(message: "Content must be 1 to 1600 characters."))
        }
        guard !self.faults.isRejected(message.to) else {
            return SandboxHTTP.json(
                200, SendResponse(messageId: nil, status: 2, statusDescription: "Invalid destination address"))
        }
        let messageID = UUID().uuidString.lowercased()
        self.log.record(
            .hubtel, to: message.to, from: message.from, body: message.content, providerMessageID: messageID)
        return SandboxHTTP.json(
            201, SendResponse(messageId: messageID, status: 0, statusDescription: "request submitted successfully"))
    }

    /// Hubtel's error body for a status.
    private func error(_ status: Int) -> Response {
        let message = status == 401
            ? "Authorization has been denied for this request." : "Sandbox fault: HTTP \(status)"
        return SandboxHTTP.json(status, ErrorBody(message: message))
    }

    private struct SendRequest: Decodable {
        var from: String
        var to: String
        var content: String

        enum CodingKeys: String, CodingKey {
            case from = "From"
            case to = "To"
            case content = "Content"
        }
    }

    private struct SendResponse: Encodable {
        var rate = 0.03
        var messageId: String?
        var status: Int
        var networkId = "62001"
        var clientReference: String? = nil
        var statusDescription: String

        init(messageId: String?, status: Int, statusDescription: String) {
            self.messageId = messageId
            self.status = status
            self.statusDescription = statusDescription
        }
    }

    private struct ErrorBody: Encodable {
        var message: String
    }
}
