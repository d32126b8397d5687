import Hummingbird
import KauriCore
import KauriHTTP

/// The operator's webhook routes, all admin only:
///
/// - `POST /v1/webhook-endpoints` registers an endpoint and answers its secret (shown only here).
/// - `GET /v1/webhook-endpoints` (paginated), `GET` and `DELETE /v1/webhook-endpoints/{id}`.
/// - `POST /v1/webhook-endpoints/{id}/secret/rotate`: a new secret; the old one signs alongside for 24 h.
/// - `POST /v1/webhook-endpoints/{id}/enable`: take deliveries again after a 410 disabled the endpoint.
/// - `GET /v1/webhook-endpoints/{id}/deliveries` (paginated) and `POST /v1/webhook-deliveries/{id}/retry`.
public struct WebhookEndpointRoutes: Sendable {
    let events: WebhookEvents
    let urlGuard: WebhookURLGuard
    let limits: Limits

    /// Routes over `events`' endpoints, checking URLs with `urlGuard`.
    public init(events: WebhookEvents, urlGuard: WebhookURLGuard, limits: Limits) {
        self.events = events
        self.urlGuard = urlGuard
        self.limits = limits
    }

    /// Adds the routes and their OpenAPI descriptions.
    public func addRoutes(to api: DocumentedRouter) {
        api.registry.addSchema("WebhookEndpoint", EndpointResponse.schema)
        api.registry.addSchema("WebhookDelivery", DeliveryResponse.schema)
        let endpointList = Self.listSchema("WebhookEndpoint")
        let deliveryList = Self.listSchema("WebhookDelivery")
        let pageParameters: [(name: String, description: String, schema: JSONValue)] = [
            ("limit", "Page size.", ["type": "integer", "minimum": 1]),
            ("cursor", "`next_cursor` of the previous page.", ["type": "string"]),
        ]
        let store = self.events.store

        api.on(
            .post, "/v1/webhook-endpoints",
            OperationDoc(
                "createWebhookEndpoint",
                summary: "Register a webhook endpoint; the answer holds its signing secret, shown only here (admin).",
                tag: "webhooks", requestSchema: EndpointResponse.createSchema,
                responses: [.json(201, "Registered.", schema: RouteRegistry.ref("WebhookEndpoint"))],
                errorStatuses: [401, 403, 409, 422])
        ) { request, context in
            try context.requireRole(.admin)
            let body = try await request.decode(as: CreateEndpointRequest.self, context: context)
            try body.validate()
            do {
                _ = try await self.urlGuard.check(body.url)
            } catch let error as WebhookURLGuard.Refusal {
                throw APIError(
                    error.isMalformed ? .webhookURLInvalid : .webhookURLNotAllowed, detail: error.description,
                    fieldErrors: [
                        .init(
                            field: "url", code: error.isMalformed ? "invalid" : "not_allowed",
                            message: error.description)
                    ])
            }
            do {
                let (endpoint, secret) = try await store.createEndpoint(
                    url: body.url, eventTypes: body.uniqueEvents, description: body.description)
                context.logger.info("webhook endpoint registered", metadata: ["webhook.endpoint.id": "\(endpoint.id)"])
                return EditedResponse(status: .created, response: EndpointResponse(endpoint, secret: secret))
            } catch WebhookStore.RegistrationError.tooManyEndpoints {
                throw APIError(
                    .webhookTooManyEndpoints, detail: "at most \(WebhookLimits.endpointsMax) endpoints; delete one")
            }
        }

        api.on(
            .get, "/v1/webhook-endpoints",
            OperationDoc(
                "listWebhookEndpoints", summary: "Webhook endpoints in registration order (admin).",
                tag: "webhooks", responses: [.json(200, "A page of endpoints.", schema: endpointList)],
                errorStatuses: [400, 401, 403], queryParameters: pageParameters)
        ) { request, context in
            try context.requireRole(.admin)
            let page = try PageRequest<String>(request: request, limits: self.limits)
            let endpoints = try await store.endpoints(after: page.after, limit: page.limit + 1)
            return page.page(from: endpoints, item: { EndpointResponse($0) }, position: { $0.id.description })
        }

        api.on(
            .get, "/v1/webhook-endpoints/{id}",
            OperationDoc(
                "getWebhookEndpoint", summary: "One webhook endpoint, without its secret (admin).", tag: "webhooks",
                responses: [.json(200, "The endpoint.", schema: RouteRegistry.ref("WebhookEndpoint"))],
                errorStatuses: [401, 403, 404])
        ) { _, context in
            try context.requireRole(.admin)
            guard let endpoint = try await store.endpoint(try Self.endpointID(context)) else {
                throw APIError(.webhookEndpointNotFound)
            }
            return EndpointResponse(endpoint)
        }

        api.on(
            .delete, "/v1/webhook-endpoints/{id}",
            OperationDoc(
                "deleteWebhookEndpoint", summary: "Delete a webhook endpoint and its deliveries (admin).",
                tag: "webhooks", responses: [ResponseDoc(status: 204, description: "Deleted.")],
                errorStatuses: [401, 403, 404])
        ) { _, context in
            try context.requireRole(.admin)
            let id = try Self.endpointID(context)
            guard try await store.deleteEndpoint(id) else { throw APIError(.webhookEndpointNotFound) }
            context.logger.info("webhook endpoint deleted", metadata: ["webhook.endpoint.id": "\(id)"])
            return Response(status: .noContent)
        }

        api.on(
            .post, "/v1/webhook-endpoints/{id}/secret/rotate",
            OperationDoc(
                "rotateWebhookSecret",
                summary: "Make a new signing secret (shown only here); the old one keeps signing alongside for 24 h "
                    + "(admin).",
                tag: "webhooks",
                responses: [
                    .json(200, "The endpoint with its new secret.", schema: RouteRegistry.ref("WebhookEndpoint"))
                ],
                errorStatuses: [401, 403, 404])
        ) { _, context in
            try context.requireRole(.admin)
            let id = try Self.endpointID(context)
            guard let (endpoint, secret) = try await store.rotateSecret(id) else {
                throw APIError(.webhookEndpointNotFound)
            }
            context.logger.info("webhook secret rotated", metadata: ["webhook.endpoint.id": "\(id)"])
            return EndpointResponse(endpoint, secret: secret)
        }

        api.on(
            .post, "/v1/webhook-endpoints/{id}/enable",
            OperationDoc(
                "enableWebhookEndpoint",
                summary: "Take deliveries again after a 410 Gone disabled the endpoint (admin).",
                tag: "webhooks",
                responses: [.json(200, "The enabled endpoint.", schema: RouteRegistry.ref("WebhookEndpoint"))],
                errorStatuses: [401, 403, 404])
        ) { _, context in
            try context.requireRole(.admin)
            guard let endpoint = try await store.enableEndpoint(try Self.endpointID(context)) else {
                throw APIError(.webhookEndpointNotFound)
            }
            context.logger.info("webhook endpoint enabled", metadata: ["webhook.endpoint.id": "\(endpoint.id)"])
            return EndpointResponse(endpoint)
        }

        api.on(
            .get, "/v1/webhook-endpoints/{id}/deliveries",
            OperationDoc(
                "listWebhookDeliveries",
                summary: "An endpoint's deliveries, oldest first: attempts, state, last status and error (admin).",
                tag: "webhooks", responses: [.json(200, "A page of deliveries.", schema: deliveryList)],
                errorStatuses: [400, 401, 403, 404], queryParameters: pageParameters)
        ) { request, context in
            try context.requireRole(.admin)
            let id = try Self.endpointID(context)
            let page = try PageRequest<String>(request: request, limits: self.limits)
            guard try await store.endpoint(id) != nil else { throw APIError(.webhookEndpointNotFound) }
            let deliveries = try await store.deliveries(endpointID: id, after: page.after, limit: page.limit + 1)
            return page.page(
                from: deliveries, item: { DeliveryResponse(delivery: $0) }, position: { $0.id.description })
        }

        api.on(
            .post, "/v1/webhook-deliveries/{id}/retry",
            OperationDoc(
                "retryWebhookDelivery",
                summary: "Replay a failed delivery with the same webhook-id and a fresh schedule (admin).",
                tag: "webhooks",
                responses: [.json(202, "Scheduled.", schema: RouteRegistry.ref("WebhookDelivery"))],
                errorStatuses: [401, 403, 404, 409])
        ) { _, context in
            try context.requireRole(.admin)
            guard let id = context.parameters.get("id").flatMap(WebhookDelivery.ID.init) else {
                throw APIError(.webhookDeliveryNotFound)
            }
            switch try await store.retryDelivery(id) {
            case .scheduled(let delivery):
                self.events.notifyCommitted()
                context.logger.info("webhook delivery replayed", metadata: ["webhook.delivery.id": "\(id)"])
                return EditedResponse(status: .accepted, response: DeliveryResponse(delivery: delivery))
            case .notFound:
                throw APIError(.webhookDeliveryNotFound)
            case .notFailed(let state):
                throw APIError(.webhookDeliveryNotFailed, detail: "the delivery is \(state.rawValue)")
            case .endpointDisabled:
                throw APIError(.webhookEndpointDisabled, detail: "enable the endpoint before replaying its deliveries")
            }
        }
    }

    /// The `{id}` path parameter as an endpoint id; a malformed one is simply not found.
    static func endpointID(_ context: AppRequestContext) throws(APIError) -> WebhookEndpoint.ID {
        guard let id = context.parameters.get("id").flatMap(WebhookEndpoint.ID.init) else {
            throw APIError(.webhookEndpointNotFound)
        }
        return id
    }

    static func listSchema(_ item: String) -> JSONValue {
        [
            "type": "object", "required": ["data", "next_cursor"],
            "properties": [
                "data": ["type": "array", "items": RouteRegistry.ref(item)],
                "next_cursor": ["type": ["string", "null"]],
            ],
        ]
    }
}
