import Foundation
import Hummingbird

/// Africa's Talking's `POST /version1/messaging`: the `apiKey` header, a form body `username`, `to` (a
/// comma-separated list of `+` numbers), `message`, optional `from`. Answers JSON only when the request accepts
/// `application/json` (XML otherwise, as the real API does); 201 with one entry per recipient in
/// `SMSMessageData.Recipients` (status code 101 `Success`, 403 `InvalidPhoneNumber`, 406 `UserInBlacklist`).
/// Authentication failures are plain text.
struct AfricasTalkingSimulator: Sendable {
    static let messageCharacterCountMax = 1_600
    static let costPerMessage = "KES 0.8000"

    let log: SandboxMessageLog
    let faults: SandboxFaults
    let credentials: SandboxCredentials

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/version1/messaging") { request, _ in
            try await self.send(request)
        }
    }

    private func send(_ request: Request) async throws -> Response {
        if let response = try await SandboxHTTP.applyFault(self.faults, .africasTalking, errorResponse: self.fault) {
            return response
        }
        let apiKey = SandboxHTTP.header("apiKey", of: request)
        guard SandboxHTTP.matches(apiKey, self.credentials.africasTalkingAPIKey) else {
            return SandboxHTTP.text(401, "The supplied authentication is invalid")
        }
        let body = try await SandboxHTTP.body(of: request)
        guard SandboxHTTP.hasContentType(request, "application/x-www-form-urlencoded"),
            let fields = SandboxHTTP.formFields(body)
        else {
            return SandboxHTTP.text(400, "Request body must be form-urlencoded")
        }
        guard SandboxHTTP.matches(fields["username"], self.credentials.africasTalkingUsername) else {
            return SandboxHTTP.text(401, "The supplied authentication is invalid")
        }
        for name in ["to", "message"] where (fields[name] ?? "").isEmpty {
            return SandboxHTTP.text(400, "Request is missing required form field '\(name)'")
        }
        let message = fields["message"]!
        guard message.count <= Self.messageCharacterCountMax else {
            return SandboxHTTP.text(400, "Message is too long")
        }
        let from = fields["from"].flatMap { $0.isEmpty ? nil : $0 }
        var recipients: [Recipient] = []
        for number in fields["to"]!.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if number.wholeMatch(of: /\+[0-9]{1,3}[0-9]{3,}/) == nil {
                recipients.append(Recipient(statusCode: 403, number: number, status: "InvalidPhoneNumber"))
            } else if self.faults.isRejected(number) {
                recipients.append(Recipient(statusCode: 406, number: number, status: "UserInBlacklist"))
            } else {
                let messageID = "ATXid_" + SandboxHTTP.hexID()
                self.log.record(.africasTalking, to: number, from: from, body: message, providerMessageID: messageID)
                recipients.append(
                    Recipient(
                        statusCode: 101, number: number, status: "Success", cost: Self.costPerMessage,
                        messageId: messageID))
            }
        }
        let sent = recipients.filter { $0.statusCode == 101 }.count
        let summary = sent == 0 ? "Sent to 0/\(recipients.count) Total Cost: 0"
            : "Sent to \(sent)/\(recipients.count) Total Cost: \(Self.costPerMessage)"
        let answer = SendResponse(smsMessageData: MessageData(message: summary, recipients: recipients))
        let acceptsJSON = request.headers[.accept]?.lowercased().contains("application/json") ?? false
        guard acceptsJSON else { return SandboxHTTP.text(201, answer.xml, contentType: "application/xml") }
        return SandboxHTTP.json(201, answer)
    }

    private func fault(_ status: Int) -> Response {
        let message = status == 401 ? "The supplied authentication is invalid" : "Sandbox fault: HTTP \(status)"
        return SandboxHTTP.text(status, message)
    }

    private struct SendResponse: Encodable {
        var smsMessageData: MessageData

        enum CodingKeys: String, CodingKey {
            case smsMessageData = "SMSMessageData"
        }

        var xml: String {
            let recipients = self.smsMessageData.recipients.map {
                "<Recipient><number>\($0.number)</number><cost>\($0.cost)</cost><status>\($0.status)</status>"
                    + "<statusCode>\($0.statusCode)</statusCode><messageId>\($0.messageId)</messageId></Recipient>"
            }
            return "<AfricasTalkingResponse><SMSMessageData><Message>\(self.smsMessageData.message)</Message>"
                + "<Recipients>\(recipients.joined())</Recipients></SMSMessageData></AfricasTalkingResponse>"
        }
    }

    private struct MessageData: Encodable {
        var message: String
        var recipients: [Recipient]

        enum CodingKeys: String, CodingKey {
            case message = "Message"
            case recipients = "Recipients"
        }
    }

    private struct Recipient: Encodable {
        var statusCode: Int
        var number: String
        var status: String
        var cost = "0"
        var messageId = "None"
    }
}
