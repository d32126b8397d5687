/// A value that must never be printed: passwords, API keys, database URLs with credentials.
///
/// Its description, debug description and reflection all read `***`, so string interpolation into a log
/// line or an error message cannot leak it. Read the value only where it is used, through `value`.
public struct Secret<Value: Sendable & Hashable>: Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
{
    /// The wrapped value. Do not log it.
    public let value: Value

    /// Wraps a value.
    public init(_ value: Value) {
        self.value = value
    }

    /// Always `***`.
    public var description: String { "***" }
    /// Always `***`.
    public var debugDescription: String { "***" }
    /// A mirror with no children, so `dump` prints nothing of the value.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
