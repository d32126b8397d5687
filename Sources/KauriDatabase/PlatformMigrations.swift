/// The platform's own tables.
public enum PlatformMigrations {
    /// `kauri_metadata`: instance-wide facts (the instance id, the schema's creation time), one row each.
    public static let all: [Migration] = [
        Migration(
            module: "platform", version: 1, name: "create_metadata",
            sql: [
                """
                CREATE TABLE kauri_metadata (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                )
                """
            ])
    ]
}
