/// One versioned schema change of one module, written for both engines.
///
/// A migration's statements run inside one transaction together with the row that records it, so it is
/// applied entirely or not at all. Once released, a migration never changes: fix forward with a new version.
public struct Migration: Sendable {
    /// The module that owns the tables (`platform`, `ledger`, `payments`).
    public let module: String
    /// The version within the module, starting at 1 and increasing by 1.
    public let version: Int
    /// A short snake_case name (`create_metadata`).
    public let name: String
    /// The statements for each engine. Keep the logical schema identical; only syntax may differ.
    public let statements: @Sendable (Database.Kind) -> [String]

    /// Declares a migration.
    public init(
        module: String, version: Int, name: String, statements: @escaping @Sendable (Database.Kind) -> [String]
    ) {
        precondition(version >= 1, "migration versions start at 1")
        self.module = module
        self.version = version
        self.name = name
        self.statements = statements
    }

    /// Declares a migration whose SQL is the same on both engines.
    public init(module: String, version: Int, name: String, sql: [String]) {
        self.init(module: module, version: version, name: name) { _ in sql }
    }
}
