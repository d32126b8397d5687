import Foundation
import Hummingbird
import KauriCore
import KauriHTTP

/// The payments module's HTTP routes.
///
/// - `POST /v1/payments` (seller, partner or admin; `Idempotency-Key` required), `GET /v1/payments`,
///   `GET /v1/payments/{id}` (the owner or an admin; anyone else gets 404).
/// - `POST /v1/payments/{id}/refunds` (`Idempotency-Key` required), `GET /v1/payments/{id}/refunds`.
/// - `GET /v1/payments/{id}/return`: where a hosted checkout sends the customer back; checks the payment with
///   the gateway and forwards the customer to the payment's `return_url`.
/// - `POST /v1/webhooks/{gateway}` (signed gateways) and `POST /v1/callbacks/{id}/{token}` (per-payment
///   callback URLs of unsigned gateways): verified, stored once, answered fast; applied in the background.
public struct PaymentRoutes: Sendable {
    let payments: Payments
    let limits: Limits

    /// The paths whose POST needs an `Idempotency-Key` (for `IdempotencyMiddleware`).
    public static let idempotentPaths = ["/v1/payments", "/v1/payments/{id}/refunds", "/v1/payouts"]

    public init(payments: Payments, limits: Limits) {
        self.payments = payments
        self.limits = limits
    }

    /// Adds the routes and their OpenAPI descriptions.
    public func addRoutes(to api: DocumentedRouter) {
        api.registry.addSchema("Payment", PaymentResponse.schema)
        api.registry.addSchema("Refund", RefundResponse.schema)
        let paymentList: JSONValue = [
            "type": "object", "required": ["data", "next_cursor"],
            "properties": [
                "data": ["type": "array", "items": RouteRegistry.ref("Payment")],
                "next_cursor": ["type": ["string", "null"]],
            ],
        ]
        let refundList: JSONValue = [
            "type": "object", "required": ["data"],
            "properties": ["data": ["type": "array", "items": RouteRegistry.ref("Refund")]],
        ]

        api.on(
            .post, "/v1/payments",
            OperationDoc(
                "createPayment",
                summary: "Create a payment and start it at the gateway (Idempotency-Key required).",
                tag: "payments", requestSchema: CreatePaymentRequest.schema,
                responses: [
                    .json(
                        201, "Created; `next_action` says what the customer does.", schema: RouteRegistry.ref("Payment")
                    )
                ],
                errorStatuses: [400, 401, 403, 409, 422])
        ) { request, context in
            let caller = try context.requireCaller()
            guard caller.roles.contains(.seller) || caller.roles.contains(.partner) || caller.roles.contains(.admin)
            else { throw APIError(.forbidden, detail: "creating payments needs the seller, partner or admin role") }
            let body = try await request.decode(as: CreatePaymentRequest.self, context: context).validated()
            let payment = try await Self.mapped {
                try await self.payments.create(
                    body, ownerReference: caller.ownerReference, idempotencyKey: context.idempotencyKey)
            }
            return EditedResponse(status: .created, response: PaymentResponse(payment))
        }

        api.on(
            .get, "/v1/payments",
            OperationDoc(
                "listPayments", summary: "The caller's payments, newest first (admin: everyone's).", tag: "payments",
                responses: [.json(200, "A page of payments.", schema: paymentList)], errorStatuses: [400, 401],
                queryParameters: [
                    ("limit", "Page size.", ["type": "integer", "minimum": 1]),
                    ("cursor", "`next_cursor` of the previous page.", ["type": "string"]),
                ])
        ) { request, context in
            let caller = try context.requireCaller()
            let page = try PageRequest<String>(request: request, limits: self.limits)
            let before = try page.after.map { text throws(APIError) -> Payment.ID in
                guard let id = Payment.ID(text) else { throw APIError(.invalidQuery, detail: "bad cursor") }
                return id
            }
            let rows = try await self.payments.payments(
                ownerReference: caller.roles.contains(.admin) ? nil : caller.ownerReference, before: before,
                limit: page.limit + 1)
            return page.page(from: rows, item: { PaymentResponse($0) }, position: { $0.id.description })
        }

        api.on(
            .get, "/v1/payments/{id}",
            OperationDoc(
                "getPayment", summary: "One payment (its owner or an admin).", tag: "payments",
                responses: [.json(200, "The payment.", schema: RouteRegistry.ref("Payment"))],
                errorStatuses: [401, 404])
        ) { _, context in
            let caller = try context.requireCaller()
            let payment = try await self.load(context, caller: caller)
            return PaymentResponse(payment)
        }

        api.on(
            .get, "/v1/payments/{id}/return",
            OperationDoc(
                "returnFromCheckout",
                summary: "Where a hosted checkout returns the customer: checks the payment and forwards to return_url.",
                tag: "payments",
                responses: [
                    ResponseDoc(status: 303, description: "To the payment's return_url with payment_id and status."),
                    .json(
                        200, "The payment's id and status only, when it has no return_url (this route is public).",
                        schema: [
                            "type": "object",
                            "properties": [
                                "id": ["type": "string"], "object": ["type": "string"], "status": ["type": "string"],
                            ],
                        ]),
                ],
                errorStatuses: [404])
        ) { _, context -> Response in
            guard let id = context.parameters.get("id").flatMap(Payment.ID.init),
                var payment = try await self.payments.payment(id, ownerReference: nil)
            else { throw APIError(PaymentErrorCodes.paymentNotFound) }
            do {
                payment = try await self.payments.refresh(id)
            } catch {
                // The gateway did not answer: the customer still goes back; webhooks and polling settle it.
                context.logger.info("return check gave no answer", metadata: ["payment.id": "\(id)"])
            }
            guard let returnURL = payment.returnURL, var components = URLComponents(string: returnURL) else {
                // Public: whoever holds the link learns the outcome, never the customer's details.
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json", .cacheControl: "no-store"],
                    body: ResponseBody(
                        byteBuffer: ByteBuffer(
                            string:
                                #"{"id":"\#(payment.id)","object":"payment","status":"\#(payment.status.rawValue)"}"#)))
            }
            components.queryItems =
                (components.queryItems ?? []) + [
                    URLQueryItem(name: "payment_id", value: payment.id.description),
                    URLQueryItem(name: "status", value: payment.status.rawValue),
                ]
            return Response(
                status: .seeOther, headers: [.location: components.string ?? returnURL, .cacheControl: "no-store"])
        }

        api.on(
            .post, "/v1/payments/{id}/refunds",
            OperationDoc(
                "createRefund", summary: "Refund all or part of a succeeded payment (Idempotency-Key required).",
                tag: "payments", requestSchema: CreateRefundRequest.schema,
                responses: [.json(201, "Created.", schema: RouteRegistry.ref("Refund"))],
                errorStatuses: [400, 401, 404, 409, 422])
        ) { request, context in
            let caller = try context.requireCaller()
            guard let id = context.parameters.get("id").flatMap(Payment.ID.init) else {
                throw APIError(PaymentErrorCodes.paymentNotFound)
            }
            let (amount, reason) = try await request.decode(as: CreateRefundRequest.self, context: context).validated()
            let refund = try await Self.mapped {
                try await self.payments.refund(
                    paymentID: id, amount: amount, reason: reason,
                    ownerReference: caller.roles.contains(.admin) ? nil : caller.ownerReference,
                    idempotencyKey: context.idempotencyKey)
            }
            return EditedResponse(status: .created, response: RefundResponse(refund))
        }

        api.on(
            .get, "/v1/payments/{id}/refunds",
            OperationDoc(
                "listRefunds", summary: "A payment's refunds, oldest first.", tag: "payments",
                responses: [.json(200, "The refunds.", schema: refundList)], errorStatuses: [401, 404])
        ) { _, context in
            let caller = try context.requireCaller()
            let payment = try await self.load(context, caller: caller)
            let refunds = try await self.payments.refunds(of: payment.id)
            return RefundList(data: refunds.map(RefundResponse.init))
        }

        api.on(
            .post, "/v1/webhooks/{gateway}",
            OperationDoc(
                "receiveWebhook",
                summary: "A signed gateway's webhook: verified, stored once, applied in the background.",
                tag: "webhooks",
                responses: [.json(200, "Received (also for a duplicate).", schema: ["type": "object"])],
                errorStatuses: [400, 401, 413, 422])
        ) { request, context in
            let name = GatewayName(rawValue: context.parameters.get("gateway") ?? "")
            return try await self.receive(request, context: context, gateway: name, target: nil)
        }

        api.on(
            .post, "/v1/callbacks/{id}/{token}",
            OperationDoc(
                "receiveCallback",
                summary: "An unsigned gateway's callback to a payment's or refund's own unguessable URL.",
                tag: "webhooks",
                responses: [.json(200, "Received (also for a duplicate).", schema: ["type": "object"])],
                errorStatuses: [400, 401, 413])
        ) { request, context in
            let target = (context.parameters.get("id") ?? "", context.parameters.get("token") ?? "")
            return try await self.receive(request, context: context, gateway: nil, target: target)
        }
    }

    private func receive(
        _ request: Request, context: AppRequestContext, gateway: GatewayName?, target: (id: String, token: String)?
    ) async throws -> Response {
        let buffer = try await request.body.collect(upTo: min(context.maxUploadSize, Payments.webhookBodyBytesMax))
        var headers: [String: String] = [:]
        for field in request.headers {
            headers[field.name.canonicalName] = field.value
        }
        let receipt = try await Self.mapped {
            try await self.payments.receiveWebhook(
                gateway: gateway, target: target, headers: headers, body: Array(buffer.readableBytesView))
        }
        context.logger.debug("webhook received", metadata: ["webhook.receipt": "\(receipt)"])
        // Daraja expects this acknowledgement body; the others only look at the status.
        let body = #"{"ResultCode":0,"ResultDesc":"Accepted"}"#
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    private func load(_ context: AppRequestContext, caller: Caller) async throws -> Payment {
        guard let id = context.parameters.get("id").flatMap(Payment.ID.init),
            let payment = try await self.payments.payment(
                id, ownerReference: caller.roles.contains(.admin) ? nil : caller.ownerReference)
        else { throw APIError(PaymentErrorCodes.paymentNotFound) }
        return payment
    }

    /// Runs `body`, turning a `PaymentError` into its API error.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PaymentError {
            throw PaymentErrorCodes.apiError(error)
        }
    }
}

/// `{"data": [...]}`.
struct RefundList: ResponseEncodable, Sendable {
    let data: [RefundResponse]
}
