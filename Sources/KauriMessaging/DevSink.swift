import Hummingbird
import KauriCore
import KauriDatabase
import KauriHTTP
import SQLKit

/// The sandbox's phone and inbox: instead of reaching a provider, messages are stored in `dev_messages` and
/// listed by `GET /v1/dev/messages`. Used in sandbox mode only.
public struct DevSink: SmsSender, EmailSender {
    public var providerName: String { "dev_sink" }
    let database: Database
    let ids: IDGenerator
    let clock: any WallClock

    /// A sink writing to `database`.
    public init(database: Database, ids: IDGenerator, clock: any WallClock) {
        self.database = database
        self.ids = ids
        self.clock = clock
    }

    public func send(_ message: SmsMessage) async throws -> DeliveryReceipt {
        try await self.store(recipient: message.to, channel: .sms, subject: nil, body: message.body)
    }

    public func send(_ message: EmailMessage) async throws -> DeliveryReceipt {
        try await self.store(recipient: message.to, channel: .email, subject: message.subject, body: message.text)
    }

    private func store(
        recipient: String, channel: MessageChannel, subject: String?, body: String
    ) async throws
        -> DeliveryReceipt
    {
        let id = self.ids.make(MessageIDKind.self).description
        let now = Int64(self.clock.now().unixMilliseconds)
        try await self.database.withConnection { connection in
            try await connection.raw(
                """
                INSERT INTO dev_messages (id, recipient, channel, subject, body, created_at)
                VALUES (\(bind: id), \(bind: recipient), \(bind: channel.rawValue), \(bind: subject), \(bind: body),
                    \(bind: now))
                """
            ).run()
        }
        return DeliveryReceipt(provider: self.providerName, providerMessageID: id)
    }
}

/// A message in the dev sink, as `GET /v1/dev/messages` lists it.
struct DevMessageResponse: ResponseEncodable, Sendable {
    let id: String
    let to: String
    let channel: String
    let subject: String?
    let body: String
    let createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, to, channel, subject, body
        case createdAt = "created_at"
    }
}

/// `GET /v1/dev/messages?to=…`: what the sandbox "sent", newest first. Mount only in sandbox mode.
public struct DevMessagesRoutes: Sendable {
    let database: Database
    let limits: Limits

    /// Routes over the dev sink in `database`.
    public init(database: Database, limits: Limits) {
        self.database = database
        self.limits = limits
    }

    /// Adds the route and its OpenAPI description.
    public func addRoutes(to api: DocumentedRouter) {
        let message: JSONValue = [
            "type": "object", "required": ["id", "to", "channel", "body", "created_at"],
            "properties": [
                "id": ["type": "string"], "to": ["type": "string"],
                "channel": ["type": "string", "enum": ["sms", "email"]],
                "subject": ["type": ["string", "null"]], "body": ["type": "string"],
                "created_at": ["type": "string", "format": "date-time"],
            ],
        ]
        let list: JSONValue = [
            "type": "object", "required": ["data", "next_cursor"],
            "properties": ["data": ["type": "array", "items": message], "next_cursor": ["type": ["string", "null"]]],
        ]
        api.on(
            .get, "/v1/dev/messages",
            OperationDoc(
                "listDevMessages",
                summary: "Sandbox only: the SMS and emails Kauri sent, newest first (the dev message sink).",
                tag: "dev", responses: [.json(200, "A page of messages.", schema: list)], errorStatuses: [400],
                queryParameters: [
                    ("to", "Only messages to this phone number (E.164) or email address.", ["type": "string"]),
                    ("limit", "Page size.", ["type": "integer", "minimum": 1]),
                    ("cursor", "`next_cursor` of the previous page.", ["type": "string"]),
                ])
        ) { request, _ in
            let page = try PageRequest<String>(request: request, limits: self.limits)
            // A phone number may be given in any accepted form; it is stored in E.164.
            let recipient = request.uri.queryParameters["to"].map { to in
                (try? PhoneNumber(parsing: String(to)))?.e164 ?? String(to)
            }
            let rows = try await self.database.withConnection { connection in
                var query = SQLQueryString("SELECT * FROM dev_messages WHERE 1 = 1")
                if let recipient {
                    query.appendInterpolation(unsafeRaw: " AND recipient = ")
                    query.appendInterpolation(bind: recipient)
                }
                if let after = page.after {
                    query.appendInterpolation(unsafeRaw: " AND id < ")
                    query.appendInterpolation(bind: after)
                }
                query.appendInterpolation(unsafeRaw: " ORDER BY id DESC LIMIT ")
                query.appendInterpolation(bind: page.limit + 1)
                return try await connection.raw(query).all().map { row in
                    DevMessageResponse(
                        id: try row.decode(column: "id", as: String.self),
                        to: try row.decode(column: "recipient", as: String.self),
                        channel: try row.decode(column: "channel", as: String.self),
                        subject: try row.decode(column: "subject", as: String?.self),
                        body: try row.decode(column: "body", as: String.self),
                        createdAt: Timestamp(
                            unixMilliseconds: UInt64(try row.decode(column: "created_at", as: Int64.self))
                        )
                        .rfc3339)
                }
            }
            return page.page(from: rows, item: { $0 }, position: { $0.id })
        }
    }
}
