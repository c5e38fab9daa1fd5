import Foundation

/// UUID v4 identifiers in their canonical lowercase text form.
public enum UUIDv4 {
    /// A new random UUID v4, lowercase.
    ///
    /// From the system generator (`getrandom(2)`), not Foundation's `UUID()`: on Linux that opens, reads and closes
    /// `/dev/urandom` for every id, and the daemon makes two per job (attempt key, image id).
    public static func generate() -> String {
        var g = SystemRandomNumberGenerator()
        var high: UInt64 = g.next()
        var low: UInt64 = g.next()
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { out in
            var i = 0
            func put(_ word: UInt64, nibbles: Int, from shift: Int) {
                for k in 0..<nibbles {
                    out[i] = hex[Int((word >> UInt64(shift - 4 * k)) & 0xF)]
                    i += 1
                }
            }
            func dash() {
                out[i] = UInt8(ascii: "-")
                i += 1
            }
            put(high, nibbles: 8, from: 60)
            dash()
            put(high, nibbles: 4, from: 28)
            dash()
            put(high, nibbles: 4, from: 12)
            dash()
            put(low, nibbles: 4, from: 60)
            dash()
            put(low, nibbles: 12, from: 44)
            return i
        }
    }

    /// The canonical lowercase form of `text` when it is a UUID v4 (version nibble 4, RFC 4122 variant), else nil.
    public static func canonical(_ text: String) -> String? {
        let u = Array(text.utf8)
        guard u.count == 36 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, c) in u.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                out.append(c)
                continue
            }
            let l: UInt8
            switch c {
            case 0x30...0x39, 0x61...0x66: l = c
            case 0x41...0x46: l = c + 0x20
            default: return nil
            }
            out.append(l)
        }
        guard out[14] == UInt8(ascii: "4") else { return nil }
        guard [UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(out[19]) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// A deterministic UUID v4-shaped id derived from `seed` bytes (for ids that must be stable across
    /// retries, such as image ids of a re-run render).
    public static func derived(from seed: String) -> String {
        var h1 = StableHash.fnv1a64(seed)
        var h2 = StableHash.fnv1a64(seed + "#2")
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: h1)
            bytes[8 + i] = UInt8(truncatingIfNeeded: h2)
            h1 >>= 8
            h2 >>= 8
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}
