/// The ledger's named limits.
public enum LedgerLimits {
    /// Longest account or transfer id, in bytes.
    public static let idLengthMax = 128
    /// Longest transfer reference, in bytes.
    public static let referenceLengthMax = 255
    /// Most transfers in one linked chain.
    public static let chainTransfersMax = 100
    /// Most transfers committed in one database transaction by the group committer.
    public static let batchTransfersMax = 2_000
    /// Most rows in one INSERT statement (keeps bind counts far below SQLite's and PostgreSQL's limits).
    public static let rowsPerStatementMax = 500
    /// Longest a pending transfer may wait before it expires: 90 days.
    public static let pendingTimeoutSecondsMax: Int64 = 90 * 24 * 3_600
    /// Most expired pending transfers voided per sweep of the expiry service.
    public static let expirySweepMax = 500
}
