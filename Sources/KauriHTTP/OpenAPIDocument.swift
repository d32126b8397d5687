import Foundation

/// Builds the OpenAPI 3.1 document from the route registry.
public enum OpenAPIDocument {
    /// Statuses every route may answer with, whatever it does.
    static let commonErrorStatuses = [400, 404, 405, 413, 415, 422, 500, 503]

    /// The document as JSON bytes.
    public static func render(registry: RouteRegistry, title: String, version: String) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(Self.build(registry: registry, title: title, version: version))
    }

    /// The document as a JSON value.
    public static func build(registry: RouteRegistry, title: String, version: String) -> JSONValue {
        var paths: [(String, JSONValue)] = []
        for entry in registry.entries {
            let operation = Self.operation(entry)
            if let index = paths.firstIndex(where: { $0.0 == entry.path }), case .object(var methods) = paths[index].1 {
                methods.append((entry.method.rawValue.lowercased(), operation))
                paths[index].1 = .object(methods)
            } else {
                paths.append((entry.path, .object([(entry.method.rawValue.lowercased(), operation)])))
            }
        }
        var schemas: [(String, JSONValue)] = [("Problem", Self.problemSchema)]
        schemas += registry.schemas
        let tags = Array(Set(registry.entries.map(\.doc.tag))).sorted().map { JSONValue.object([("name", .string($0))]) }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": .string(title),
                "version": .string(version),
                "description": "Kauri: payments, escrow, ledger and identity for marketplaces in Africa and India.",
                "license": ["name": "Apache-2.0", "identifier": "Apache-2.0"],
            ],
            "tags": .array(tags),
            "paths": .object(paths),
            "components": [
                "schemas": .object(schemas),
                "responses": [
                    "Problem": [
                        "description": "An error, as RFC 9457 problem details with a stable code.",
                        "content": ["application/problem+json": ["schema": RouteRegistry.ref("Problem")]],
                    ]
                ],
            ],
        ]
    }

    private static func operation(_ entry: RouteRegistry.Entry) -> JSONValue {
        let doc = entry.doc
        var fields: [(String, JSONValue)] = [
            ("operationId", .string(doc.operationID)),
            ("summary", .string(doc.summary)),
            ("tags", [.string(doc.tag)]),
        ]
        var parameters: [JSONValue] = entry.segments.filter { $0.hasPrefix("{") && $0.hasSuffix("}") }.map {
            [
                "name": .string(String($0.dropFirst().dropLast())), "in": "path", "required": true,
                "schema": ["type": "string"],
            ]
        }
        parameters += doc.queryParameters.map {
            ["name": .string($0.name), "in": "query", "required": false, "description": .string($0.description),
             "schema": $0.schema]
        }
        parameters.append([
            "name": "X-Request-ID", "in": "header", "required": false,
            "description": "Echoed back; generated when absent. Up to 128 characters of [A-Za-z0-9._:-].",
            "schema": ["type": "string", "maxLength": 128],
        ])
        fields.append(("parameters", .array(parameters)))
        if let schema = doc.requestSchema {
            fields.append(
                ("requestBody", ["required": true, "content": ["application/json": ["schema": schema]]]))
        }
        var responses: [(String, JSONValue)] = doc.responses.map { response in
            var value: [(String, JSONValue)] = [("description", .string(response.description))]
            if let contentType = response.contentType {
                value.append(("content", .object([(contentType, response.schema.map { ["schema": $0] } ?? [:])])))
            }
            return (String(response.status), .object(value))
        }
        for status in Set(Self.commonErrorStatuses + doc.errorStatuses).sorted()
        where !responses.contains(where: { $0.0 == String(status) }) {
            responses.append((String(status), RouteRegistry.componentResponse("Problem")))
        }
        fields.append(("responses", .object(responses)))
        return .object(fields)
    }

    static let problemSchema: JSONValue = [
        "type": "object",
        "required": ["type", "title", "status", "code", "request_id", "instance"],
        "properties": [
            "type": ["type": "string", "description": "urn:kauri:error:<code>"],
            "title": ["type": "string"],
            "status": ["type": "integer"],
            "detail": ["type": "string"],
            "instance": ["type": "string", "description": "The request path."],
            "code": ["type": "string", "description": "Stable error code; see docs/ERRORS.md."],
            "request_id": ["type": "string"],
            "errors": [
                "type": "array",
                "items": [
                    "type": "object",
                    "required": ["field", "code", "message"],
                    "properties": [
                        "field": ["type": "string"], "code": ["type": "string"], "message": ["type": "string"],
                    ],
                ],
            ],
        ],
    ]
}

extension RouteRegistry {
    /// A `$ref` to a component response.
    static func componentResponse(_ name: String) -> JSONValue {
        ["$ref": .string("#/components/responses/\(name)")]
    }
}
