import Foundation

/// Why a new password is refused.
public enum PasswordProblem: Sendable, Hashable {
    /// Fewer than `minimum` characters.
    case tooShort(minimum: Int)
    /// More than `maximumBytes` bytes of UTF-8; bcrypt would ignore the rest.
    case tooLong(maximumBytes: Int)
    /// On the list of the most common passwords.
    case common
}

/// The rules a new password must meet (NIST SP 800-63B; reliability.md §7E.18): long enough, not longer than
/// bcrypt can hash, and not a common password. No composition rules, and the password is never modified.
public enum PasswordPolicy {
    /// The fewest characters (Unicode code points, as NIST counts them) a password may have.
    public static let minimumLength = 10
    /// The most UTF-8 bytes a password may have: bcrypt's limit. Longer is refused, not truncated.
    public static let maximumBytes = 72

    /// The problem with a proposed password, or nil when it is acceptable.
    public static func problem(with password: String) -> PasswordProblem? {
        if password.unicodeScalars.count < Self.minimumLength { return .tooShort(minimum: Self.minimumLength) }
        if password.utf8.count > Self.maximumBytes { return .tooLong(maximumBytes: Self.maximumBytes) }
        if Self.commonPasswords.contains(password.lowercased()) { return .common }
        return nil
    }

    /// The common-password list (Resources/common-passwords.txt), lower-cased, loaded once.
    static let commonPasswords: Set<String> = {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            preconditionFailure("the KauriIdentity bundle lacks common-passwords.txt")
        }
        var passwords = Set<String>()
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let password = line.trimmingCharacters(in: .whitespaces).lowercased()
            if !password.isEmpty { passwords.insert(password) }
        }
        return passwords
    }()
}
