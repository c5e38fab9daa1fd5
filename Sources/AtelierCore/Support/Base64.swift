/// Base64 helpers.
public enum Base64 {
    /// True for bytes of the standard or URL-safe base64 alphabet, padding and line breaks.
    @inline(__always)
    public static func isAlphabet(_ b: UInt8) -> Bool {
        switch b {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2B, 0x2F, 0x3D, 0x2D, 0x5F, 0x0A, 0x0D: return true
        default: return false
        }
    }
}
