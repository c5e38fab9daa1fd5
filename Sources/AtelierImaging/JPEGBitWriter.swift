/// Writes the entropy-coded segment of a JPEG scan: MSB-first bits with 0xFF byte stuffing.
struct JPEGBitWriter {
    private(set) var bytes: [UInt8]
    private var accumulator: UInt64 = 0
    private var count = 0

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends the low `length` bits of `value` (length 0...32).
    @inline(__always)
    mutating func write(_ value: UInt32, length: Int) {
        guard length > 0 else { return }
        accumulator = (accumulator << UInt64(length)) | (UInt64(value) & ((1 << UInt64(length)) - 1))
        count += length
        while count >= 8 {
            count -= 8
            let byte = UInt8(truncatingIfNeeded: accumulator >> UInt64(count))
            bytes.append(byte)
            if byte == 0xFF { bytes.append(0x00) }
        }
        accumulator &= (1 << UInt64(count)) - 1
    }

    /// Pads the last partial byte with 1-bits, as T.81 §F.1.2.3 requires.
    mutating func flush() {
        if count > 0 { write(UInt32((1 << (8 - count)) - 1), length: 8 - count) }
    }
}
