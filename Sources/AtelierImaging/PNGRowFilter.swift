/// PNG scanline filtering (PNG specification §9): the five filter types and the
/// deterministic "minimum sum of absolute differences" heuristic that picks one per row.
enum PNGRowFilter {
    /// Writes `1 + rowBytes` bytes (filter type, then filtered row) for every row of
    /// `pixels` into `output`, choosing the filter per row adaptively.
    static func filterImage(
        pixels: UnsafeBufferPointer<UInt8>, rowBytes: Int, rows: Int, bytesPerPixel bpp: Int,
        into output: UnsafeMutableBufferPointer<UInt8>
    ) {
        let src = pixels.baseAddress!
        let dst = output.baseAddress!
        // Scratch rows for the five candidate filters, plus a zero row used as "previous" for row 0.
        let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: rowBytes * 5)
        let zeroRow = UnsafeMutablePointer<UInt8>.allocate(capacity: rowBytes)
        zeroRow.initialize(repeating: 0, count: rowBytes)
        scratch.initialize(repeating: 0, count: rowBytes * 5)
        defer {
            scratch.deallocate()
            zeroRow.deallocate()
        }

        for row in 0..<rows {
            let cur = src + row * rowBytes
            let prev = row == 0 ? UnsafePointer(zeroRow) : src + (row - 1) * rowBytes
            var bestType = 0
            var bestScore = Int.max
            for type in 0..<5 {
                let out = scratch + type * rowBytes
                let score = apply(type: type, cur: cur, prev: prev, out: out, count: rowBytes, bpp: bpp)
                if score < bestScore {
                    bestScore = score
                    bestType = type
                }
            }
            let target = dst + row * (rowBytes + 1)
            target[0] = UInt8(bestType)
            (target + 1).update(from: scratch + bestType * rowBytes, count: rowBytes)
        }
    }

    /// Applies filter `type` to one row and returns its score (sum of bytes taken as signed magnitudes).
    @inline(__always)
    private static func apply(
        type: Int, cur: UnsafePointer<UInt8>, prev: UnsafePointer<UInt8>,
        out: UnsafeMutablePointer<UInt8>, count: Int, bpp: Int
    ) -> Int {
        var score = 0
        @inline(__always) func emit(_ i: Int, _ v: UInt8) {
            out[i] = v
            score += v < 128 ? Int(v) : 256 - Int(v)
        }
        switch type {
        case 0:
            for i in 0..<count { emit(i, cur[i]) }
        case 1:
            for i in 0..<count {
                let left = i >= bpp ? cur[i - bpp] : 0
                emit(i, cur[i] &- left)
            }
        case 2:
            for i in 0..<count { emit(i, cur[i] &- prev[i]) }
        case 3:
            for i in 0..<count {
                let left = i >= bpp ? Int(cur[i - bpp]) : 0
                emit(i, cur[i] &- UInt8((left + Int(prev[i])) >> 1))
            }
        default:
            for i in 0..<count {
                let a = i >= bpp ? Int(cur[i - bpp]) : 0
                let b = Int(prev[i])
                let c = i >= bpp ? Int(prev[i - bpp]) : 0
                emit(i, cur[i] &- UInt8(paeth(a, b, c)))
            }
        }
        return score
    }

    /// The Paeth predictor.
    @inline(__always)
    static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let pa = abs(p - a)
        let pb = abs(p - b)
        let pc = abs(p - c)
        if pa <= pb && pa <= pc { return a }
        if pb <= pc { return b }
        return c
    }
}
