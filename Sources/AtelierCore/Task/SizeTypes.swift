import Foundation

/// An aspect ratio such as `16:9`, kept in the form it was written (not reduced), because providers list
/// ratios by name.
public struct AspectRatio: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// Horizontal part.
    public let width: Int
    /// Vertical part.
    public let height: Int

    /// Parses `"W:H"` with positive integers.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy(\.isASCIIDigits), let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0,
            w <= 100, h <= 100
        else {
            return nil
        }
        self.width = w
        self.height = h
    }

    /// Creates a ratio from its parts.
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// width ÷ height.
    public var value: Double { Double(width) / Double(height) }
    public var description: String { "\(width):\(height)" }
    public static func < (a: AspectRatio, b: AspectRatio) -> Bool { a.value < b.value }
}

/// A resolution tier: the long-side class of an image, as Gemini (`imageSize`) and Runware (`resolution`) name them.
public enum ResolutionTier: String, Sendable, Hashable, CaseIterable, Comparable {
    case r512 = "512"
    case r1K = "1K"
    case r2K = "2K"
    case r4K = "4K"

    /// Parses `512`/`0.5K`, `1K`, `2K`, `4K` (any case).
    public init?(parsing text: String) {
        switch text.uppercased() {
        case "512", "0.5K": self = .r512
        case "1K": self = .r1K
        case "2K": self = .r2K
        case "4K": self = .r4K
        default: return nil
        }
    }

    /// The nominal pixel count of a square image at this tier.
    public var nominalMegapixels: Double {
        switch self {
        case .r512: return 0.262144
        case .r1K: return 1.048576
        case .r2K: return 4.194304
        case .r4K: return 16.777216
        }
    }

    private var order: Int {
        switch self {
        case .r512: return 0
        case .r1K: return 1
        case .r2K: return 2
        case .r4K: return 3
        }
    }

    public static func < (a: ResolutionTier, b: ResolutionTier) -> Bool { a.order < b.order }

    /// The tier whose nominal size is closest to `width × height`.
    public static func nearest(width: Int, height: Int) -> ResolutionTier {
        let mp = Double(width * height) / 1_000_000
        return allCases.min { abs(log2($0.nominalMegapixels / mp)) < abs(log2($1.nominalMegapixels / mp)) }!
    }
}

/// Exact output pixels.
public struct PixelSize: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
    /// Parses `"WxH"`.
    public init?(_ text: String) {
        let p = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard p.count == 2, p.allSatisfy(\.isASCIIDigits), let w = Int(p[0]), let h = Int(p[1]), w > 0, h > 0 else { return nil }
        self.init(width: w, height: h)
    }
    public var megapixels: Double { Double(width * height) / 1_000_000 }
    public var description: String { "\(width)x\(height)" }
    public static func < (a: PixelSize, b: PixelSize) -> Bool { (a.width, a.height) < (b.width, b.height) }
}

/// The image format a caller wants back.
public enum OutputFormat: String, Sendable, Hashable, CaseIterable {
    case png = "PNG"
    case jpg = "JPG"
    case webp = "WEBP"

    /// Parses `PNG`, `JPG`/`JPEG`, `WEBP` (any case).
    public init?(parsing text: String) {
        switch text.uppercased() {
        case "PNG": self = .png
        case "JPG", "JPEG": self = .jpg
        case "WEBP": self = .webp
        default: return nil
        }
    }

    /// The MIME type.
    public var mimeType: String {
        switch self {
        case .png: return "image/png"
        case .jpg: return "image/jpeg"
        case .webp: return "image/webp"
        }
    }

    /// The file extension, without a dot.
    public var fileExtension: String {
        switch self {
        case .png: return "png"
        case .jpg: return "jpg"
        case .webp: return "webp"
        }
    }

    /// The format for a MIME type, if it is one of ours.
    public init?(mimeType: String) {
        switch mimeType.lowercased() {
        case "image/png": self = .png
        case "image/jpeg", "image/jpg": self = .jpg
        case "image/webp": self = .webp
        default: return nil
        }
    }
}

/// Which stage of a creative workflow a task belongs to.
public enum Phase: String, Sendable, Hashable, CaseIterable {
    /// Cheap, fast drafts.
    case ideation
    /// The deliverable: quality first.
    case final
}

extension Substring {
    /// True when non-empty and made only of the ASCII digits 0–9 (`Int(_:)` alone also accepts a leading `+` or `-`).
    fileprivate var isASCIIDigits: Bool { !isEmpty && utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
}

/// The size a task asks for.
public enum SizeRequest: Sendable, Equatable {
    /// Exact pixels (`width` + `height`).
    case pixels(PixelSize)
    /// A ratio and/or a tier (`aspectRatio` + `resolution`); nil parts mean the model's default
    /// (1:1 — or the reference image's ratio on models that follow it — and 1K).
    case tier(aspectRatio: AspectRatio?, resolution: ResolutionTier?)

    /// Nothing specified: the model's default size.
    public static let automatic = SizeRequest.tier(aspectRatio: nil, resolution: nil)

    /// The ratio asked for, or implied by exact pixels.
    public var aspectRatio: AspectRatio? {
        switch self {
        case .pixels: return nil
        case .tier(let r, _): return r
        }
    }

    /// Writes the request's wire members (`width` + `height`, or `aspectRatio`/`resolution` when given) — the one
    /// form used by tasks and workflow specs.
    public func appendMembers(to o: inout JSONObject) {
        switch self {
        case .pixels(let p):
            o.append("width", .int(Int64(p.width)))
            o.append("height", .int(Int64(p.height)))
        case .tier(let r, let t):
            o.append("aspectRatio", ifPresent: r.map { .string($0.description) })
            o.append("resolution", ifPresent: t.map { .string($0.rawValue) })
        }
    }
}
