import Hummingbird
import KauriCore
import KauriHTTP

/// The ledger's HTTP routes.
///
/// - `GET /v1/balances`: the caller's accounts (the admin may name an owner).
/// - Admin only: `GET /v1/ledger/transfers`, `GET /v1/ledger/accounts/{id}` (optionally `as_of`),
///   `POST /v1/ledger/accounts`, `POST /v1/ledger/transfers` (manual entries and corrections; the transfer id
///   is the idempotency key).
public struct LedgerRoutes: Sendable {
    let ledger: Ledger
    let limits: Limits
    let summaries: (@Sendable (String) async throws -> [BalanceSummary])?

    /// Routes over `ledger`; `summaries` adds, per currency, what other modules know of an owner's money (held in
    /// escrow, on its way out) to `GET /v1/balances`.
    public init(
        ledger: Ledger, limits: Limits, summaries: (@Sendable (String) async throws -> [BalanceSummary])? = nil
    ) {
        self.ledger = ledger
        self.limits = limits
        self.summaries = summaries
    }

    /// Adds the routes and their OpenAPI descriptions.
    public func addRoutes(to api: DocumentedRouter) {
        api.registry.addSchema("LedgerAccount", AccountResponse.schema)
        api.registry.addSchema("LedgerTransfer", TransferResponse.schema)
        let accountList: JSONValue = [
            "type": "object", "required": ["data"],
            "properties": ["data": ["type": "array", "items": RouteRegistry.ref("LedgerAccount")]],
        ]
        let balances: JSONValue = [
            "type": "object", "required": ["data", "summary"],
            "properties": [
                "data": ["type": "array", "items": RouteRegistry.ref("LedgerAccount")],
                "summary": [
                    "type": "array",
                    "description": "Per currency: available, held (in escrow), in_transit (payouts on their way).",
                    "items": [
                        "type": "object", "required": ["currency", "available", "held", "in_transit"],
                        "properties": [
                            "currency": ["type": "string"], "available": ["type": "integer"],
                            "held": ["type": "integer"], "in_transit": ["type": "integer"],
                        ],
                    ],
                ],
            ],
        ]
        let transferList: JSONValue = [
            "type": "object", "required": ["data", "next_cursor"],
            "properties": [
                "data": ["type": "array", "items": RouteRegistry.ref("LedgerTransfer")],
                "next_cursor": ["type": ["string", "null"]],
            ],
        ]

        api.on(
            .get, "/v1/balances",
            OperationDoc(
                "listBalances", summary: "The caller's ledger accounts and balances (admin: any owner).",
                tag: "ledger", responses: [.json(200, "The accounts, and a summary per currency.", schema: balances)],
                errorStatuses: [401],
                queryParameters: [
                    ("owner", "Admin only: whose accounts (default `platform`).", ["type": "string"])
                ])
        ) { request, context in
            let caller = try context.requireCaller()
            var owner = caller.ownerReference
            if let requested = request.uri.queryParameters["owner"] {
                guard caller.roles.contains(.admin) else {
                    throw APIError(.forbidden, detail: "only an admin may read another owner's balances")
                }
                owner = String(requested)
            }
            let accounts = try await self.ledger.accounts(ownerReference: owner)
            return BalancesResponse(
                data: accounts.map { AccountResponse($0) }, summary: try await self.summaries?(owner) ?? [])
        }

        api.on(
            .get, "/v1/ledger/transfers",
            OperationDoc(
                "listLedgerTransfers", summary: "Transfers in commit order, optionally of one account (admin).",
                tag: "ledger", responses: [.json(200, "A page of transfers.", schema: transferList)],
                errorStatuses: [400, 401, 403],
                queryParameters: [
                    ("account_id", "Only transfers debiting or crediting this account.", ["type": "string"]),
                    ("limit", "Page size.", ["type": "integer", "minimum": 1]),
                    ("cursor", "`next_cursor` of the previous page.", ["type": "string"]),
                ])
        ) { request, context in
            try context.requireRole(.admin)
            let page = try PageRequest<Int64>(request: request, limits: self.limits)
            var accountID: LedgerAccount.ID?
            if let text = request.uri.queryParameters["account_id"] {
                guard let id = LedgerAccount.ID(String(text)) else {
                    throw APIError(.invalidQuery, detail: "account_id is not an account id")
                }
                accountID = id
            }
            let rows = try await self.ledger.transfers(
                accountID: accountID, afterSequence: page.after ?? 0, limit: page.limit + 1)
            return page.page(from: rows, item: { TransferResponse(transfer: $0.transfer) }, position: { $0.sequence })
        }

        api.on(
            .get, "/v1/ledger/accounts/{id}",
            OperationDoc(
                "getLedgerAccount",
                summary: "One account; with `as_of` (RFC 3339), its balances then (history accounts only) (admin).",
                tag: "ledger", responses: [.json(200, "The account.", schema: RouteRegistry.ref("LedgerAccount"))],
                errorStatuses: [400, 401, 403, 404],
                queryParameters: [("as_of", "A past time, RFC 3339.", ["type": "string", "format": "date-time"])])
        ) { request, context in
            try context.requireRole(.admin)
            guard let id = context.parameters.get("id").flatMap(LedgerAccount.ID.init),
                let account = try await self.ledger.account(id)
            else { throw APIError(.accountNotFound) }
            guard let text = request.uri.queryParameters["as_of"] else { return AccountResponse(account) }
            guard let time = Timestamp(rfc3339: String(text)) else {
                throw APIError(.invalidQuery, detail: "as_of must be an RFC 3339 time such as 2026-11-22T10:00:00Z")
            }
            guard let balances = try await self.ledger.balances(of: account, asOf: time) else {
                throw APIError(.invalidQuery, detail: "as_of needs an account created with the history flag")
            }
            return AccountResponse(account, balances: balances, asOf: time)
        }

        api.on(
            .post, "/v1/ledger/accounts",
            OperationDoc(
                "createLedgerAccount", summary: "Create an account; idempotent by id (admin).", tag: "ledger",
                requestSchema: CreateAccountRequest.schema,
                responses: [
                    .json(201, "Created.", schema: RouteRegistry.ref("LedgerAccount")),
                    .json(200, "Already existed with the same fields.", schema: RouteRegistry.ref("LedgerAccount")),
                ],
                errorStatuses: [401, 403, 409, 422])
        ) { request, context in
            try context.requireRole(.admin)
            let body = try await request.decode(as: CreateAccountRequest.self, context: context)
            switch try await self.ledger.createAccount(try body.validated()) {
            case .created(let account): return EditedResponse(status: .created, response: AccountResponse(account))
            case .exists(let account): return EditedResponse(status: .ok, response: AccountResponse(account))
            case .failed(let error): throw APIError(LedgerErrorCodes.code(for: error))
            }
        }

        api.on(
            .post, "/v1/ledger/transfers",
            OperationDoc(
                "createLedgerTransfers",
                summary: "Commit a linked chain of transfers, all or none; ids make it idempotent (admin).",
                tag: "ledger", requestSchema: CreateTransfersRequest.schema,
                responses: [
                    .json(
                        201, "Committed.",
                        schema: [
                            "type": "object",
                            "properties": ["data": ["type": "array", "items": RouteRegistry.ref("LedgerTransfer")]],
                        ]),
                    .json(200, "Every transfer already existed with the same fields.", schema: ["type": "object"]),
                ],
                errorStatuses: [401, 403, 409, 422])
        ) { request, context in
            try context.requireRole(.admin)
            let body = try await request.decode(as: CreateTransfersRequest.self, context: context)
            let results = try await self.ledger.submit(try body.validated())
            // Report the transfer that failed (the others failed only because they were linked to it).
            if let (index, error) = results.enumerated().lazy
                .compactMap({ index, result in result.error.map { (index, $0) } })
                .first(where: { $0.1 != .linkedEventFailed })
            {
                throw APIError(
                    LedgerErrorCodes.code(for: error),
                    detail: "transfers[\(index)]: \(error.name); no transfer of the request was committed")
            }
            let created = results.contains { if case .created = $0 { true } else { false } }
            let data = results.compactMap(\.transfer).map(TransferResponse.init(transfer:))
            return EditedResponse(status: created ? .created : .ok, response: ListResponse(data: data))
        }
    }
}
