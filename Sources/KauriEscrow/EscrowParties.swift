import KauriCore

/// Who the parties are beyond their owner reference: the phone a user signed in with.
///
/// Implemented over the identity module by the composition root; the escrow module does not read users itself.
public protocol EscrowParties: Sendable {
    /// The verified phone of the user `ownerReference` names, or nil (no such user, or no phone).
    func phone(of ownerReference: String) async throws -> PhoneNumber?
}
