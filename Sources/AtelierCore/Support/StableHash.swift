/// Hashes that are the same in every process and on every machine (unlike `Hasher`, which is seeded per run).
/// Used for sticky A/B splits, deterministic rendering and derived ids.
///
/// Their outputs are contracts (a user stays in the same split arm across releases; the local renderer's bytes do
/// not change): `StableHashGoldenTests` and `LocalRenderGoldenTests` pin them.
public enum StableHash {
    /// The 64-bit FNV-1a offset basis: the state before any byte is hashed.
    public static let fnvOffsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The 64-bit FNV-1a prime.
    public static let fnvPrime: UInt64 = 0x0000_0100_0000_01B3

    /// 64-bit FNV-1a over the UTF-8 bytes, then a SplitMix64 finaliser for good bit mixing.
    public static func fnv1a64(_ text: String) -> UInt64 {
        mix(fnv1a64Unmixed(text))
    }

    /// Raw 64-bit FNV-1a over the UTF-8 bytes of `text`, without the finaliser, continuing from `state` (so that a
    /// common prefix can be hashed once: `fnv1a64Unmixed(b, from: fnv1a64Unmixed(a)) == fnv1a64Unmixed(a + b)`).
    @inline(__always)
    public static func fnv1a64Unmixed(_ text: String, from state: UInt64 = fnvOffsetBasis) -> UInt64 {
        var h = state
        for b in text.utf8 {
            h ^= UInt64(b)
            h &*= fnvPrime
        }
        return h
    }

    /// The SplitMix64 finaliser.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
