/// A deterministic one-dimensional "mountain ridge" height profile made by midpoint
/// displacement with integer arithmetic, used by ``LocalRenderer`` for horizon layers.
struct RidgeProfile {
    /// Control heights in 1/256 pixel, `segments + 1` of them.
    private let heights: [Int]
    private let segments: Int

    /// - Parameters:
    ///   - baseline: Average height of the ridge line, in pixels from the top.
    ///   - amplitude: Initial displacement amplitude in pixels.
    ///   - roughness: Amplitude kept per octave, in 1/256 (≈ 140 smooth hills, ≈ 190 jagged peaks).
    init(baseline: Int, amplitude: Int, roughness: Int, rng: inout Xoshiro256StarStar) {
        let n = 128
        var h = [Int](repeating: baseline << 8, count: n + 1)
        var amp = max(amplitude, 1) << 8
        h[0] = (baseline << 8) + rng.next(in: -amp...amp) / 2
        h[n] = (baseline << 8) + rng.next(in: -amp...amp) / 2
        var step = n
        while step > 1 {
            let half = step / 2
            for i in stride(from: half, to: n, by: step) {
                h[i] = (h[i - half] + h[i + half]) / 2 + rng.next(in: -amp...amp)
            }
            amp = max(amp * roughness / 256, 1)
            step = half
        }
        heights = h
        segments = n
    }

    /// Ridge height at column `x` of an image `width` pixels wide, in 1/256 pixel.
    func height(atColumn x: Int, width: Int) -> Int {
        guard width > 1 else { return heights[0] }
        let position = x * segments * 256 / (width - 1)
        let i = min(position >> 8, segments - 1)
        let fraction = position - i * 256
        return heights[i] + (heights[i + 1] - heights[i]) * fraction / 256
    }
}
