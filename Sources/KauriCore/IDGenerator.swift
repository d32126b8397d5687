import Synchronization

/// Makes version-7 UUIDs that are strictly increasing within this process.
///
/// Within one millisecond the 12-bit sequence field counts up (RFC 9562 §6.2 method 1); when it is exhausted
/// the generator borrows the next millisecond. The clock and the random source are injected so tests repeat.
public final class IDGenerator: Sendable {
    private struct State {
        var lastMilliseconds: UInt64 = 0
        var sequence: UInt16 = 0
        var random: any RandomNumberGenerator & Sendable
    }

    private let clock: any WallClock
    private let state: Mutex<State>

    /// Creates a generator; the default uses the system clock and the system's CSPRNG.
    public init(clock: any WallClock = SystemClock(), random: any RandomNumberGenerator & Sendable = SystemRandom()) {
        self.clock = clock
        self.state = Mutex(State(random: random))
    }

    /// A new identifier of the given kind.
    public func make<Kind: IDKind>(_ kind: Kind.Type = Kind.self) -> PrefixedID<Kind> {
        PrefixedID(uuid: self.makeUUID())
    }

    /// A new UUID, greater than every UUID this generator made before.
    public func makeUUID() -> UUIDv7 {
        let now = self.clock.now().unixMilliseconds
        return self.state.withLock { state in
            if now > state.lastMilliseconds {
                state.lastMilliseconds = now
                // Start the sequence at a random point in its lower half to keep some unpredictability.
                state.sequence = UInt16(truncatingIfNeeded: state.random.next()) & 0x07FF
            } else if state.sequence >= 0x0FFF {
                state.lastMilliseconds += 1
                state.sequence = 0
            } else {
                state.sequence += 1
            }
            return UUIDv7(
                unixMilliseconds: state.lastMilliseconds, sequence: state.sequence, random: state.random.next())
        }
    }
}

/// The operating system's cryptographically secure random number generator, as a sendable value.
public struct SystemRandom: RandomNumberGenerator, Sendable {
    /// Creates the generator.
    public init() {}

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}

/// A seeded, deterministic generator (SplitMix64) for tests that must repeat.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates the generator from a seed.
    public init(seed: UInt64) {
        self.state = seed
    }

    /// The next 64 pseudo-random bits.
    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
