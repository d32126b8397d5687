import HTTPTypes
import Hummingbird
import Synchronization

/// The OpenAPI description of one operation.
public struct OperationDoc: Sendable {
    /// A unique operation id (`getPayment`).
    public var operationID: String
    /// One line on what the operation does.
    public var summary: String
    /// The group it is listed under (`platform`, `payments`).
    public var tag: String
    /// The JSON schema of the request body, if the operation takes one.
    public var requestSchema: JSONValue?
    /// The documented non-error responses.
    public var responses: [ResponseDoc]
    /// Error statuses the operation can answer with beyond the ones every route can (problem+json).
    public var errorStatuses: [Int]
    /// Query parameters: name, description, JSON schema.
    public var queryParameters: [(name: String, description: String, schema: JSONValue)]

    /// Describes an operation.
    public init(
        _ operationID: String,
        summary: String,
        tag: String,
        requestSchema: JSONValue? = nil,
        responses: [ResponseDoc],
        errorStatuses: [Int] = [],
        queryParameters: [(name: String, description: String, schema: JSONValue)] = []
    ) {
        self.operationID = operationID
        self.summary = summary
        self.tag = tag
        self.requestSchema = requestSchema
        self.responses = responses
        self.errorStatuses = errorStatuses
        self.queryParameters = queryParameters
    }
}

/// One documented response.
public struct ResponseDoc: Sendable {
    /// The HTTP status.
    public var status: Int
    /// What it means.
    public var description: String
    /// The media type of the body, if there is one.
    public var contentType: String?
    /// The schema of the body.
    public var schema: JSONValue?

    /// A JSON response with a schema.
    public static func json(_ status: Int, _ description: String, schema: JSONValue) -> ResponseDoc {
        ResponseDoc(status: status, description: description, contentType: "application/json", schema: schema)
    }

    /// Describes a response.
    public init(status: Int, description: String, contentType: String? = nil, schema: JSONValue? = nil) {
        self.status = status
        self.description = description
        self.contentType = contentType
        self.schema = schema
    }
}

/// Every route the server answers, with its documentation: the source of `/openapi.json` and of the
/// 405-versus-404 decision. Routes are added through `DocumentedRouter`, so the two cannot drift apart.
public final class RouteRegistry: Sendable {
    /// A registered route.
    public struct Entry: Sendable {
        /// The method.
        public let method: HTTPRequest.Method
        /// The path template with `{name}` captures.
        public let path: String
        /// Its documentation.
        public let doc: OperationDoc
        let segments: [Substring]
    }

    private let state = Mutex<(entries: [Entry], schemas: [(String, JSONValue)])>(([], []))

    /// Creates an empty registry.
    public init() {}

    /// Every route, in registration order.
    public var entries: [Entry] { self.state.withLock { $0.entries } }

    /// Records a route. Registering the same method and path twice is a programming error.
    public func add(_ method: HTTPRequest.Method, _ path: String, doc: OperationDoc) {
        self.state.withLock { state in
            precondition(
                !state.entries.contains { $0.method == method && $0.path == path },
                "route \(method) \(path) registered twice")
            precondition(
                !state.entries.contains { $0.doc.operationID == doc.operationID },
                "operation id \(doc.operationID) used twice")
            state.entries.append(
                Entry(method: method, path: path, doc: doc, segments: path.split(separator: "/")))
        }
    }

    /// Adds a named schema under `components/schemas`; reference it with `RouteRegistry.ref(name)`.
    public func addSchema(_ name: String, _ schema: JSONValue) {
        self.state.withLock { state in
            if !state.schemas.contains(where: { $0.0 == name }) { state.schemas.append((name, schema)) }
        }
    }

    /// The registered schemas.
    public var schemas: [(String, JSONValue)] { self.state.withLock { $0.schemas } }

    /// A `$ref` to a component schema.
    public static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    /// The methods registered for templates matching a concrete path; empty when no template matches.
    public func allowedMethods(forPath path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        return self.state.withLock { state in
            state.entries.filter { entry in
                entry.segments.count == segments.count
                    && zip(entry.segments, segments).allSatisfy { template, actual in
                        (template.hasPrefix("{") && template.hasSuffix("}")) || template == actual
                    }
            }.map(\.method)
        }
    }
}

/// Adds routes to a Hummingbird router and records them in the registry in one step.
public struct DocumentedRouter {
    /// The router routes are added to.
    public let router: Router<AppRequestContext>
    /// The registry that documents them.
    public let registry: RouteRegistry

    /// Wraps a router and a registry.
    public init(router: Router<AppRequestContext>, registry: RouteRegistry) {
        self.router = router
        self.registry = registry
    }

    /// Adds a documented route.
    public func on(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ doc: OperationDoc,
        use handler: @escaping @Sendable (Request, AppRequestContext) async throws -> some ResponseGenerator
    ) {
        self.registry.add(method, path, doc: doc)
        self.router.on(RouterPath(path), method: method, use: handler)
    }
}
