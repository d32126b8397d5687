import Foundation
import Hummingbird
import KauriCore
import KauriHTTP
import KauriPayments

/// The escrow module's HTTP routes.
///
/// - `POST /v1/payment-links` (any signed-in user: the seller), `GET /v1/payment-links` (the seller's),
///   `GET /v1/payment-links/{id}` (public), `POST /v1/payment-links/{id}/close` (the seller).
/// - `POST /v1/payment-links/{id}/checkout` (public; `Idempotency-Key` required): opens an escrow and pushes the
///   payment to the buyer's phone.
/// - `GET /v1/escrows` and `GET /v1/escrows/{id}` (its seller, its buyer — signed in with the phone that paid —
///   or an admin), `POST /v1/escrows/{id}/ship` and `/deliver` (the seller), `/confirm` (the buyer: releases).
/// - Sessions (S1): an offer is a payment link of kind `session`; `POST /v1/sessions` (a signed-in client books and
///   pays), `GET /v1/sessions/{id}`, `POST /v1/sessions/{id}/complete` (the partner, or the client with a rating).
public struct EscrowRoutes: Sendable {
    let escrows: Escrows
    let clock: any WallClock
    let publicURL: @Sendable () -> String
    let limits: Limits

    public init(escrows: Escrows, clock: any WallClock, limits: Limits, publicURL: @escaping @Sendable () -> String) {
        self.escrows = escrows
        self.clock = clock
        self.limits = limits
        self.publicURL = publicURL
    }

    /// Adds the routes and their OpenAPI descriptions.
    public func addRoutes(to api: DocumentedRouter) {
        api.registry.addSchema("PaymentLink", PaymentLinkResponse.schema)
        api.registry.addSchema("Escrow", EscrowResponse.schema)
        let linkList: JSONValue = [
            "type": "object", "required": ["data", "next_cursor"],
            "properties": [
                "data": ["type": "array", "items": RouteRegistry.ref("PaymentLink")],
                "next_cursor": ["type": ["string", "null"]],
            ],
        ]
        let escrowList: JSONValue = [
            "type": "object", "required": ["data", "next_cursor"],
            "properties": [
                "data": ["type": "array", "items": RouteRegistry.ref("Escrow")],
                "next_cursor": ["type": ["string", "null"]],
            ],
        ]
        let pageParameters: [(String, String, JSONValue)] = [
            ("limit", "Page size.", ["type": "integer", "minimum": 1]),
            ("cursor", "`next_cursor` of the previous page.", ["type": "string"]),
        ]

        api.on(
            .post, "/v1/payment-links",
            OperationDoc(
                "createPaymentLink", summary: "Create a payment link (the caller is the seller).", tag: "escrow",
                requestSchema: CreatePaymentLinkRequest.schema,
                responses: [
                    .json(201, "Created; `url` is the hosted checkout.", schema: RouteRegistry.ref("PaymentLink"))
                ],
                errorStatuses: [400, 401, 422])
        ) { request, context in
            let caller = try context.requireCaller()
            let body = try await request.decode(as: CreatePaymentLinkRequest.self, context: context)
                .validated(now: self.clock.now())
            let link = try await Self.mapped {
                try await self.escrows.createLink(body, sellerReference: caller.ownerReference)
            }
            return EditedResponse(status: .created, response: self.response(link, forSeller: true))
        }

        api.on(
            .get, "/v1/payment-links",
            OperationDoc(
                "listPaymentLinks", summary: "The caller's payment links, newest first.", tag: "escrow",
                responses: [.json(200, "A page of links.", schema: linkList)], errorStatuses: [400, 401],
                queryParameters: pageParameters)
        ) { request, context in
            let caller = try context.requireCaller()
            let page = try PageRequest<String>(request: request, limits: self.limits)
            let before = try page.after.map { text throws(APIError) -> PaymentLink.ID in
                guard let id = PaymentLink.ID(text) else { throw APIError(.invalidQuery, detail: "bad cursor") }
                return id
            }
            let rows = try await self.escrows.links(
                sellerReference: caller.ownerReference, before: before, limit: page.limit + 1)
            return page.page(
                from: rows, item: { self.response($0, forSeller: true) }, position: { $0.id.description })
        }

        api.on(
            .get, "/v1/payment-links/{id}",
            OperationDoc(
                "getPaymentLink", summary: "A payment link as buyers see it (public).", tag: "escrow",
                responses: [.json(200, "The link.", schema: RouteRegistry.ref("PaymentLink"))], errorStatuses: [404])
        ) { _, context in
            let link = try await self.loadLink(context)
            return self.response(link, forSeller: context.caller?.ownerReference == link.sellerReference)
        }

        api.on(
            .post, "/v1/payment-links/{id}/close",
            OperationDoc(
                "closePaymentLink", summary: "Close a link: it takes no more payments (the seller).", tag: "escrow",
                responses: [.json(200, "The closed link.", schema: RouteRegistry.ref("PaymentLink"))],
                errorStatuses: [401, 404])
        ) { _, context in
            let caller = try context.requireCaller()
            guard let id = context.parameters.get("id").flatMap(PaymentLink.ID.init) else {
                throw APIError(EscrowErrorCodes.linkNotFound)
            }
            let link = try await Self.mapped {
                try await self.escrows.closeLink(id, sellerReference: caller.ownerReference)
            }
            return self.response(link, forSeller: true)
        }

        api.on(
            .post, "/v1/payment-links/{id}/checkout",
            OperationDoc(
                "checkoutPaymentLink",
                summary: "Pay a link: opens an escrow and asks the buyer's phone for the money (Idempotency-Key "
                    + "required; public).",
                tag: "escrow", requestSchema: CheckoutRequest.schema,
                responses: [
                    .json(
                        201, "The escrow (pending) with its payment's `next_action`.",
                        schema: RouteRegistry.ref("Escrow"))
                ],
                errorStatuses: [400, 404, 409, 422])
        ) { request, context in
            let key = try Self.idempotencyKey(request)
            let link = try await self.loadLink(context)
            let body = try await request.decode(as: CheckoutRequest.self, context: context)
                .validated(currency: link.price.currency)
            let (escrow, payment) = try await Self.mapped {
                try await self.escrows.checkout(linkID: link.id, body, idempotencyKey: key)
            }
            return EditedResponse(
                status: .created,
                response: EscrowResponse(escrow: escrow, timeline: nil, role: .buyer, payment: payment))
        }

        api.on(
            .get, "/v1/escrows",
            OperationDoc(
                "listEscrows", summary: "Escrows where the caller is the seller or the buyer, newest first.",
                tag: "escrow", responses: [.json(200, "A page of escrows.", schema: escrowList)],
                errorStatuses: [400, 401], queryParameters: pageParameters)
        ) { request, context in
            let party = try Self.party(context)
            let page = try PageRequest<String>(request: request, limits: self.limits)
            let before = try page.after.map { text throws(APIError) -> Escrow.ID in
                guard let id = Escrow.ID(text) else { throw APIError(.invalidQuery, detail: "bad cursor") }
                return id
            }
            let rows = try await self.escrows.escrows(for: party, before: before, limit: page.limit + 1)
            return page.page(
                from: rows,
                item: {
                    EscrowResponse(
                        escrow: $0, timeline: nil, role: $0.sellerReference == party.ownerReference ? .seller : .buyer,
                        payment: nil)
                }, position: { $0.id.description })
        }

        api.on(
            .get, "/v1/escrows/{id}",
            OperationDoc(
                "getEscrow", summary: "One escrow with its timeline (a party or an admin).", tag: "escrow",
                responses: [.json(200, "The escrow.", schema: RouteRegistry.ref("Escrow"))], errorStatuses: [401, 404])
        ) { _, context in
            let party = try Self.party(context)
            guard let id = context.parameters.get("id").flatMap(Escrow.ID.init),
                let (escrow, timeline, role) = try await self.escrows.escrow(id, for: party)
            else { throw APIError(EscrowErrorCodes.escrowNotFound) }
            return EscrowResponse(
                escrow: escrow, timeline: timeline, role: role, payment: nil,
                dispute: try await self.escrows.dispute(of: id))
        }

        api.on(
            .post, "/v1/escrows/{id}/disputes",
            OperationDoc(
                "openEscrowDispute",
                summary: "The buyer or the seller disputes a paid, shipped or delivered escrow: the money is frozen.",
                tag: "escrow", requestSchema: OpenDisputeRequest.schema,
                responses: [.json(201, "The escrow, disputed, with its dispute.", schema: RouteRegistry.ref("Escrow"))],
                errorStatuses: [400, 401, 404, 409])
        ) { request, context in
            let party = try Self.party(context)
            guard let id = context.parameters.get("id").flatMap(Escrow.ID.init) else {
                throw APIError(EscrowErrorCodes.escrowNotFound)
            }
            let body = try await request.decode(as: OpenDisputeRequest.self, context: context).validated()
            let (escrow, dispute) = try await Self.mapped {
                try await self.escrows.openDispute(body, on: id, by: party)
            }
            let role: Escrows.Role = escrow.sellerReference == party.ownerReference ? .seller : .buyer
            return EditedResponse(
                status: .created,
                response: EscrowResponse(escrow: escrow, timeline: nil, role: role, payment: nil, dispute: dispute))
        }

        api.on(
            .post, "/v1/escrows/{id}/review/clear",
            OperationDoc(
                "clearEscrowReview",
                summary: "An admin clears an escrow the risk check held, so it can be released.", tag: "escrow",
                responses: [.json(200, "The escrow.", schema: RouteRegistry.ref("Escrow"))],
                errorStatuses: [401, 403, 404])
        ) { _, context in
            let caller = try context.requireRole(.admin)
            guard let id = context.parameters.get("id").flatMap(Escrow.ID.init) else {
                throw APIError(EscrowErrorCodes.escrowNotFound)
            }
            let escrow = try await Self.mapped {
                try await self.escrows.clearReview(of: id, admin: caller.ownerReference, note: nil)
            }
            return EscrowResponse(escrow: escrow, timeline: nil, role: .admin, payment: nil)
        }

        api.on(
            .post, "/v1/escrows/{id}/dispute/resolve",
            OperationDoc(
                "resolveEscrowDispute",
                summary: "An admin ends a dispute: release to the seller, refund to the buyer, or split.",
                tag: "escrow", requestSchema: ResolveDisputeRequest.schema,
                responses: [.json(200, "The escrow, resolved.", schema: RouteRegistry.ref("Escrow"))],
                errorStatuses: [400, 401, 403, 404, 409, 422])
        ) { request, context in
            let caller = try context.requireRole(.admin)
            guard let id = context.parameters.get("id").flatMap(Escrow.ID.init) else {
                throw APIError(EscrowErrorCodes.escrowNotFound)
            }
            let (resolution, note) = try await request.decode(as: ResolveDisputeRequest.self, context: context)
                .validated()
            let (escrow, dispute) = try await Self.mapped {
                try await self.escrows.resolveDispute(of: id, resolution, note: note, admin: caller.ownerReference)
            }
            return EscrowResponse(escrow: escrow, timeline: nil, role: .admin, payment: nil, dispute: dispute)
        }

        api.on(
            .post, "/v1/sessions",
            OperationDoc(
                "bookSession",
                summary: "A signed-in client books a partner's session offer and pays for it: the money is held "
                    + "(Idempotency-Key required).",
                tag: "escrow", requestSchema: BookSessionRequest.schema,
                responses: [
                    .json(
                        201, "The session (an escrow of kind `session`, pending) with its payment's `next_action`.",
                        schema: RouteRegistry.ref("Escrow"))
                ],
                errorStatuses: [400, 401, 404, 409, 422])
        ) { request, context in
            let caller = try context.requireCaller()
            let key = try Self.idempotencyKey(request)
            let body = try await request.decode(as: BookSessionRequest.self, context: context)
            guard let offerID = PaymentLink.ID(body.offerID), let offer = try await self.escrows.link(offerID),
                offer.kind == .session
            else { throw APIError(EscrowErrorCodes.linkNotFound, detail: "no session offer \(body.offerID)") }
            let checkout = try body.validated(
                currency: offer.price.currency,
                callerPhone: try await self.escrows.phone(of: caller.ownerReference),
                callerReference: caller.ownerReference)
            let (escrow, payment) = try await Self.mapped {
                try await self.escrows.checkout(linkID: offer.id, checkout, idempotencyKey: key)
            }
            return EditedResponse(
                status: .created,
                response: EscrowResponse(escrow: escrow, timeline: nil, role: .buyer, payment: payment))
        }

        api.on(
            .get, "/v1/sessions/{id}",
            OperationDoc(
                "getSession", summary: "One session with its timeline (its partner, its client, or an admin).",
                tag: "escrow", responses: [.json(200, "The session.", schema: RouteRegistry.ref("Escrow"))],
                errorStatuses: [401, 404])
        ) { _, context in
            let party = try Self.party(context)
            guard let id = context.parameters.get("id").flatMap(Escrow.ID.init),
                let (escrow, timeline, role) = try await self.escrows.escrow(id, for: party), escrow.kind == .session
            else { throw APIError(EscrowErrorCodes.escrowNotFound) }
            return EscrowResponse(
                escrow: escrow, timeline: timeline, role: role, payment: nil,
                dispute: try await self.escrows.dispute(of: id))
        }

        api.on(
            .post, "/v1/sessions/{id}/complete",
            OperationDoc(
                "completeSession",
                summary: "The session took place: the partner says so (no rating), or the client does with a "
                    + "rating 1–5 (or rates while the hold runs). The money is split by the rating when the hold ends.",
                tag: "escrow", requestSchema: CompleteSessionRequest.schema,
                responses: [.json(200, "The session.", schema: RouteRegistry.ref("Escrow"))],
                errorStatuses: [400, 401, 403, 404, 409, 422])
        ) { request, context in
            let party = try Self.party(context)
            guard let id = context.parameters.get("id").flatMap(Escrow.ID.init) else {
                throw APIError(EscrowErrorCodes.escrowNotFound)
            }
            var rating: Int?
            var comment: String?
            if request.headers[.contentType] != nil {
                (rating, comment) = try await request.decode(as: CompleteSessionRequest.self, context: context)
                    .validated()
            }
            let escrow = try await Self.mapped {
                try await self.escrows.completeSession(id, by: party, rating: rating, comment: comment)
            }
            let role: Escrows.Role =
                escrow.sellerReference == party.ownerReference ? .seller : (rating != nil ? .buyer : .admin)
            return EscrowResponse(escrow: escrow, timeline: nil, role: role, payment: nil)
        }

        for (path, event, summary) in [
            ("ship", EscrowEvent.ship, "The seller sent the goods (carrier and tracking optional)."),
            ("deliver", .deliver, "The seller says the goods arrived: the buyer's inspection window starts."),
            ("confirm", .confirm, "The buyer has the goods: the money is released to the seller."),
        ] {
            api.on(
                .post, "/v1/escrows/{id}/\(path)",
                OperationDoc(
                    "\(path)Escrow", summary: summary, tag: "escrow",
                    requestSchema: event == .ship ? ShipRequest.schema : nil,
                    responses: [.json(200, "The escrow.", schema: RouteRegistry.ref("Escrow"))],
                    errorStatuses: [400, 401, 403, 404, 409])
            ) { request, context in
                let party = try Self.party(context)
                guard let id = context.parameters.get("id").flatMap(Escrow.ID.init) else {
                    throw APIError(EscrowErrorCodes.escrowNotFound)
                }
                var shipping: Escrow.Shipping?
                if event == .ship, request.headers[.contentType] != nil {
                    shipping = try await request.decode(as: ShipRequest.self, context: context).validated()
                }
                let escrow = try await Self.mapped {
                    try await self.escrows.act(event, on: id, by: party, shipping: shipping)
                }
                let role: Escrows.Role =
                    escrow.sellerReference == party.ownerReference ? .seller : (event == .confirm ? .buyer : .admin)
                return EscrowResponse(escrow: escrow, timeline: nil, role: role, payment: nil)
            }
        }
    }

    private func response(_ link: PaymentLink, forSeller: Bool) -> PaymentLinkResponse {
        PaymentLinkResponse(link: link, publicURL: self.publicURL(), forSeller: forSeller, now: self.clock.now())
    }

    private func loadLink(_ context: AppRequestContext) async throws -> PaymentLink {
        guard let id = context.parameters.get("id").flatMap(PaymentLink.ID.init),
            let link = try await self.escrows.link(id)
        else { throw APIError(EscrowErrorCodes.linkNotFound) }
        return link
    }

    private static func party(_ context: AppRequestContext) throws(APIError) -> Escrows.Party {
        let caller = try context.requireCaller()
        return Escrows.Party(ownerReference: caller.ownerReference, isAdmin: caller.roles.contains(.admin))
    }

    /// The checkout is public, so the idempotency middleware (scoped per caller) does not cover it: the key is
    /// scoped by link instead and the escrow it created is the replay.
    private static func idempotencyKey(_ request: Request) throws(APIError) -> String {
        let values = request.headers[values: IdempotencyMiddleware.keyField]
        guard !values.isEmpty else {
            throw APIError(.idempotencyKeyMissing, detail: "POST …/checkout needs an Idempotency-Key header (a UUID)")
        }
        guard values.count == 1, let key = IdempotencyKey(headerValue: values[0]) else {
            throw APIError(.idempotencyKeyInvalid, detail: "send one Idempotency-Key of 1 to 255 printable characters")
        }
        return key.value
    }

    /// Runs `body`, turning domain errors into their API errors.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as EscrowError {
            throw EscrowErrorCodes.apiError(error)
        } catch let error as PaymentError {
            throw PaymentErrorCodes.apiError(error)
        }
    }
}
