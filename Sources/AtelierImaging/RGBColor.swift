/// An opaque 8-bit-per-channel sRGB colour.
///
/// All conversions are integer arithmetic so results are identical on every
/// machine, which the deterministic ``LocalRenderer`` relies on.
public struct RGBColor: Sendable, Hashable {
    /// Red channel, 0–255.
    public var r: UInt8
    /// Green channel, 0–255.
    public var g: UInt8
    /// Blue channel, 0–255.
    public var b: UInt8

    /// Creates a colour from its three channels.
    public init(r: UInt8, g: UInt8, b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// Creates a colour from a `0xRRGGBB` literal, e.g. `RGBColor(hex: 0xFF8800)`.
    public init(hex: UInt32) {
        self.init(r: UInt8((hex >> 16) & 0xFF), g: UInt8((hex >> 8) & 0xFF), b: UInt8(hex & 0xFF))
    }

    /// Creates a colour from integer HSV components.
    ///
    /// - Parameters:
    ///   - hue: Hue in degrees; any value is accepted and wrapped into 0..<360.
    ///   - saturation: Saturation, clamped to 0...255.
    ///   - value: Brightness, clamped to 0...255.
    public init(hue: Int, saturation: Int, value: Int) {
        let h = ((hue % 360) + 360) % 360
        let s = min(max(saturation, 0), 255)
        let v = min(max(value, 0), 255)
        if s == 0 {
            self.init(r: UInt8(v), g: UInt8(v), b: UInt8(v))
            return
        }
        let sector = h / 60
        let remainder = (h % 60) * 255 / 60  // 0...250, position inside the sector
        let p = v * (255 - s) / 255
        let q = v * (255 - s * remainder / 255) / 255
        let t = v * (255 - s * (255 - remainder) / 255) / 255
        let (r, g, b): (Int, Int, Int)
        switch sector {
        case 0: (r, g, b) = (v, t, p)
        case 1: (r, g, b) = (q, v, p)
        case 2: (r, g, b) = (p, v, t)
        case 3: (r, g, b) = (p, q, v)
        case 4: (r, g, b) = (t, p, v)
        default: (r, g, b) = (v, p, q)
        }
        self.init(r: UInt8(r), g: UInt8(g), b: UInt8(b))
    }

    /// Pure black.
    public static let black = RGBColor(r: 0, g: 0, b: 0)
    /// Pure white.
    public static let white = RGBColor(r: 255, g: 255, b: 255)

    /// Linear interpolation towards `other`.
    ///
    /// - Parameter amount: 0 returns `self`, 255 returns `other`; clamped to 0...255.
    public func mixed(with other: RGBColor, amount: Int) -> RGBColor {
        let a = min(max(amount, 0), 255)
        @inline(__always) func mix(_ x: UInt8, _ y: UInt8) -> UInt8 {
            UInt8((Int(x) * (255 - a) + Int(y) * a + 127) / 255)
        }
        return RGBColor(r: mix(r, other.r), g: mix(g, other.g), b: mix(b, other.b))
    }

    /// Scales the brightness of every channel by `factor / 256` (so 256 keeps the colour), saturating at 255.
    public func scaled(by factor: Int) -> RGBColor {
        let f = max(factor, 0)
        @inline(__always) func scale(_ x: UInt8) -> UInt8 { UInt8(min(Int(x) * f / 256, 255)) }
        return RGBColor(r: scale(r), g: scale(g), b: scale(b))
    }

    /// Approximate perceived luminance (BT.601 weights), 0–255.
    public var luminance: Int {
        (Int(r) * 77 + Int(g) * 150 + Int(b) * 29) >> 8
    }
}
