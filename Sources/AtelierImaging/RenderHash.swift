/// Process-independent 64-bit hashing for deterministic rendering.
///
/// Unlike Swift's `Hasher` (randomly seeded per process), these functions return the
/// same value on every run and every machine.
public enum RenderHash {
    /// FNV-1a 64-bit offset basis.
    public static let fnvOffsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    /// FNV-1a 64-bit prime.
    public static let fnvPrime: UInt64 = 0x0000_0100_0000_01B3

    /// Raw FNV-1a over `bytes`, optionally continuing from a previous state.
    public static func fnv1a(_ bytes: some Sequence<UInt8>, state: UInt64 = fnvOffsetBasis) -> UInt64 {
        var h = state
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* fnvPrime
        }
        return h
    }

    /// The SplitMix64 finaliser: a bijective avalanche mix of `x`.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Well-mixed 64-bit hash of a string's UTF-8 bytes (FNV-1a followed by ``mix(_:)``).
    public static func hash(_ string: String) -> UInt64 {
        mix(fnv1a(string.utf8))
    }

    /// Combines two hashes order-dependently.
    public static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        mix(a ^ (b &+ 0x9E37_79B9_7F4A_7C15 &+ (a << 6) &+ (a >> 2)))
    }
}
