/// The xoshiro256** pseudo-random generator (Blackman & Vigna), seeded through SplitMix64.
///
/// Deterministic across processes and platforms, unlike `SystemRandomNumberGenerator`.
/// The bounded helpers (``next(below:)``, ``next(in:)``) use a fixed algorithm of their own,
/// so results do not depend on the standard library's `random(in:using:)` implementation.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable, Equatable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Seeds the four state words from `seed` with the SplitMix64 sequence.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x = x &+ 0x9E37_79B9_7F4A_7C15
            return RenderHash.mix(x)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    /// Uses the given raw state; an all-zero state (which would only ever produce zeros) is
    /// replaced by `init(seed: 0)`.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        if state == (0, 0, 0, 0) {
            self = Xoshiro256StarStar(seed: 0)
        } else {
            (s0, s1, s2, s3) = state
        }
    }

    /// Returns the next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// A value in `0..<bound` (multiply-high reduction); returns 0 when `bound <= 0`.
    public mutating func next(below bound: Int) -> Int {
        guard bound > 0 else { return 0 }
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A value in `range` (inclusive).
    public mutating func next(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound)) &+ 1
        if span == 0 { return Int(truncatingIfNeeded: next()) }  // the full Int range
        return range.lowerBound &+ Int(truncatingIfNeeded: next().multipliedFullWidth(by: span).high)
    }

    /// True with probability `numerator / denominator`.
    public mutating func chance(_ numerator: Int, in denominator: Int) -> Bool {
        next(below: denominator) < numerator
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}
