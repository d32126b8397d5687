import Foundation
import Hummingbird

/// Twilio's `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: Basic authentication with the account SID
/// and auth token (the SID must match the path), a form body `To`, `From` or `MessagingServiceSid`, `Body`.
/// Accepts with 201 and a message resource (`sid` `SM…`, `status` `queued`); refuses with
/// `{"code", "message", "more_info", "status"}`.
struct TwilioSimulator: Sendable {
    static let bodyCharacterCountMax = 1_600

    let log: SandboxMessageLog
    let faults: SandboxFaults
    let credentials: SandboxCredentials

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/2010-04-01/Accounts/:accountSID/Messages.json") { request, context in
            try await self.send(request, accountSID: context.parameters.get("accountSID") ?? "")
        }
    }

    private func send(_ request: Request, accountSID: String) async throws -> Response {
        if let response = try await SandboxHTTP.applyFault(self.faults, .twilio, errorResponse: self.fault) {
            return response
        }
        let user = SandboxHTTP.basicCredentials(of: request)
        guard SandboxHTTP.matches(user?.user, self.credentials.twilioAccountSID),
            SandboxHTTP.matches(user?.password, self.credentials.twilioAuthToken),
            accountSID == self.credentials.twilioAccountSID
        else {
            return self.error(401, code: 20003, "Authenticate")
        }
        let body = try await SandboxHTTP.body(of: request)
        let isForm = SandboxHTTP.hasContentType(request, "application/x-www-form-urlencoded")
        guard let fields = isForm ? SandboxHTTP.formFields(body) : [:] else {
            return self.error(400, code: 20001, "The form body is malformed.")
        }
        guard let to = fields["To"], !to.isEmpty else {
            return self.error(400, code: 21604, "A 'To' phone number is required.")
        }
        guard to.wholeMatch(of: /\+[1-9][0-9]{7,14}/) != nil else {
            return self.error(400, code: 21211, "The 'To' number \(to) is not a valid phone number.")
        }
        let from = fields["From"].flatMap { $0.isEmpty ? nil : $0 }
        let serviceSID = fields["MessagingServiceSid"].flatMap { $0.isEmpty ? nil : $0 }
        guard from != nil || serviceSID != nil else {
            return self.error(400, code: 21603, "A 'From' phone number is required.")
        }
        guard let text = fields["Body"], !text.isEmpty else {
            return self.error(400, code: 21602, "Message body is required.")
        }
        guard text.count <= Self.bodyCharacterCountMax else {
            return self.error(400, code: 21617, "The concatenated message body exceeds the 1600 character limit.")
        }
        guard !self.faults.isRejected(to) else {
            return self.error(400, code: 21211, "The 'To' number \(to) is not a valid phone number.")
        }
        let sid = "SM" + SandboxHTTP.hexID()
        self.log.record(.twilio, to: to, from: from ?? serviceSID, body: text, providerMessageID: sid)
        let resource = MessageResource(
            sid: sid, accountSID: accountSID, to: to, from: from, messagingServiceSID: serviceSID, body: text,
            dateCreated: Self.rfc2822Now(),
            uri: "/2010-04-01/Accounts/\(accountSID)/Messages/\(sid).json")
        return SandboxHTTP.json(201, resource)
    }

    private func fault(_ status: Int) -> Response {
        self.error(status, code: status == 401 ? 20003 : 20500, "Sandbox fault: HTTP \(status)")
    }

    private func error(_ status: Int, code: Int, _ message: String) -> Response {
        SandboxHTTP.json(
            status,
            ErrorBody(
                code: code, message: message, moreInfo: "https://www.twilio.com/docs/errors/\(code)", status: status))
    }

    private static func rfc2822Now() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date())
    }

    private struct MessageResource: Encodable {
        var sid: String
        var accountSID: String
        var to: String
        var from: String?
        var messagingServiceSID: String?
        var body: String
        var status = "queued"
        var numSegments = "1"
        var direction = "outbound-api"
        var apiVersion = "2010-04-01"
        var dateCreated: String
        var price: String? = nil
        var errorCode: Int? = nil
        var errorMessage: String? = nil
        var uri: String

        enum CodingKeys: String, CodingKey {
            case sid, to, from, body, status, direction, price, uri
            case accountSID = "account_sid"
            case messagingServiceSID = "messaging_service_sid"
            case numSegments = "num_segments"
            case apiVersion = "api_version"
            case dateCreated = "date_created"
            case errorCode = "error_code"
            case errorMessage = "error_message"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.sid, forKey: .sid)
            try container.encode(self.accountSID, forKey: .accountSID)
            try container.encode(self.to, forKey: .to)
            try container.encode(self.from, forKey: .from)
            try container.encode(self.messagingServiceSID, forKey: .messagingServiceSID)
            try container.encode(self.body, forKey: .body)
            try container.encode(self.status, forKey: .status)
            try container.encode(self.numSegments, forKey: .numSegments)
            try container.encode(self.direction, forKey: .direction)
            try container.encode(self.apiVersion, forKey: .apiVersion)
            try container.encode(self.dateCreated, forKey: .dateCreated)
            try container.encode(self.price, forKey: .price)
            try container.encode(self.errorCode, forKey: .errorCode)
            try container.encode(self.errorMessage, forKey: .errorMessage)
            try container.encode(self.uri, forKey: .uri)
        }
    }

    private struct ErrorBody: Encodable {
        var code: Int
        var message: String
        var moreInfo: String
        var status: Int

        enum CodingKeys: String, CodingKey {
            case code, message, status
            case moreInfo = "more_info"
        }
    }
}
