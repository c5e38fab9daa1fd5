/// Integer forward DCT on one 8×8 block: the "islow" (Loeffler–Ligtenberg–Moschytz)
/// algorithm from the IJG reference implementation, 13-bit fixed-point constants.
///
/// Input: level-shifted samples (-128...127) in natural order. Output: DCT
/// coefficients scaled up by 8, so callers divide by `8 × quantiser`.
enum JPEGForwardDCT {
    private static let constBits: Int32 = 13
    private static let pass1Bits: Int32 = 2

    private static let fix_0_298631336: Int32 = 2446
    private static let fix_0_390180644: Int32 = 3196
    private static let fix_0_541196100: Int32 = 4433
    private static let fix_0_765366865: Int32 = 6270
    private static let fix_0_899976223: Int32 = 7373
    private static let fix_1_175875602: Int32 = 9633
    private static let fix_1_501321110: Int32 = 12299
    private static let fix_1_847759065: Int32 = 15137
    private static let fix_1_961570560: Int32 = 16069
    private static let fix_2_053119869: Int32 = 16819
    private static let fix_2_562915447: Int32 = 20995
    private static let fix_3_072711026: Int32 = 25172

    @inline(__always)
    private static func descale(_ x: Int32, _ n: Int32) -> Int32 {
        (x + (1 << (n - 1))) >> n
    }

    /// Transforms `block` (64 values) in place.
    static func transform(_ block: UnsafeMutablePointer<Int32>) {
        // Pass 1: rows. Results are scaled up by 2^pass1Bits.
        for row in 0..<8 {
            let d = block + row * 8
            let tmp0 = d[0] + d[7], tmp7 = d[0] - d[7]
            let tmp1 = d[1] + d[6], tmp6 = d[1] - d[6]
            let tmp2 = d[2] + d[5], tmp5 = d[2] - d[5]
            let tmp3 = d[3] + d[4], tmp4 = d[3] - d[4]
            oddEven(d, stride: 1, tmp0, tmp1, tmp2, tmp3, tmp4, tmp5, tmp6, tmp7, firstPass: true)
        }
        // Pass 2: columns. Removes the pass-1 scaling, leaving an overall factor of 8.
        for column in 0..<8 {
            let d = block + column
            let tmp0 = d[0] + d[56], tmp7 = d[0] - d[56]
            let tmp1 = d[8] + d[48], tmp6 = d[8] - d[48]
            let tmp2 = d[16] + d[40], tmp5 = d[16] - d[40]
            let tmp3 = d[24] + d[32], tmp4 = d[24] - d[32]
            oddEven(d, stride: 8, tmp0, tmp1, tmp2, tmp3, tmp4, tmp5, tmp6, tmp7, firstPass: false)
        }
    }

    @inline(__always)
    private static func oddEven(
        _ d: UnsafeMutablePointer<Int32>, stride s: Int,
        _ tmp0: Int32, _ tmp1: Int32, _ tmp2: Int32, _ tmp3: Int32,
        _ t4: Int32, _ t5: Int32, _ t6: Int32, _ t7: Int32, firstPass: Bool
    ) {
        let shift = firstPass ? constBits - pass1Bits : constBits + pass1Bits
        // Even part.
        let tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3
        let tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2
        if firstPass {
            d[0] = (tmp10 + tmp11) << pass1Bits
            d[4 * s] = (tmp10 - tmp11) << pass1Bits
        } else {
            d[0] = descale(tmp10 + tmp11, pass1Bits)
            d[4 * s] = descale(tmp10 - tmp11, pass1Bits)
        }
        let z1e = (tmp12 + tmp13) * fix_0_541196100
        d[2 * s] = descale(z1e + tmp13 * fix_0_765366865, shift)
        d[6 * s] = descale(z1e - tmp12 * fix_1_847759065, shift)

        // Odd part.
        var z1 = t4 + t7
        var z2 = t5 + t6
        var z3 = t4 + t6
        var z4 = t5 + t7
        let z5 = (z3 + z4) * fix_1_175875602
        let tmp4 = t4 * fix_0_298631336
        let tmp5 = t5 * fix_2_053119869
        let tmp6 = t6 * fix_3_072711026
        let tmp7 = t7 * fix_1_501321110
        z1 = -z1 * fix_0_899976223
        z2 = -z2 * fix_2_562915447
        z3 = -z3 * fix_1_961570560 + z5
        z4 = -z4 * fix_0_390180644 + z5
        d[7 * s] = descale(tmp4 + z1 + z3, shift)
        d[5 * s] = descale(tmp5 + z2 + z4, shift)
        d[3 * s] = descale(tmp6 + z2 + z3, shift)
        d[1 * s] = descale(tmp7 + z1 + z4, shift)
    }
}
