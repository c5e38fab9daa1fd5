/// What `preserve` did for a result (docs/consistency.md): `result.preserve`.
///
/// - `measure`: `{mode: "measure", score, changedPixels, protectedPixels}` — the protected region's drift between
///   the reference and the result (SSIM over the region, pixels changed by more than 8 of 255).
/// - `composite`: `{mode: "composite", composited: true, feather, sourceImageUUID, score, changedPixels,
///   protectedPixels}` — the reference's protected pixels were pasted into the provider's image; `score` and
///   `changedPixels` then describe the provider's image *before* the paste (after it, the region's interior is the
///   reference's exactly), and `sourceImageUUID` names that image, still stored.
public struct PreserveReport: Sendable, Equatable {
    /// measure or composite.
    public var mode: PreserveRequest.Mode
    /// SSIM of the protected region (of the provider's image, for composite); nil under composite when the region
    /// is too small to score (under 11 px on a side).
    public var score: Double?
    /// Protected pixels changed by more than ``changedThreshold`` (of the provider's image, for composite).
    public var changedPixels: Int
    /// How many pixels the region protects (at the result's size).
    public var protectedPixels: Int
    /// Composite only: the width of the blended edge inside the region, in pixels.
    public var feather: Int?
    /// Composite only: the provider's image before the paste.
    public var sourceImageUUID: String?

    /// The threshold (out of 255) above which a protected pixel counts as changed.
    public static let changedThreshold = 8

    /// Creates a report.
    public init(
        mode: PreserveRequest.Mode, score: Double?, changedPixels: Int, protectedPixels: Int, feather: Int? = nil, sourceImageUUID: String? = nil
    ) {
        self.mode = mode
        self.score = score
        self.changedPixels = changedPixels
        self.protectedPixels = protectedPixels
        self.feather = feather
        self.sourceImageUUID = sourceImageUUID
    }

    /// True when the reference's pixels were pasted into the result.
    public var composited: Bool { mode == .composite }

    /// The wire form.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("mode", .string(mode.rawValue))
        if composited {
            o.append("composited", .bool(true))
            o.append("feather", ifPresent: feather.map { .int(Int64($0)) })
            o.append("sourceImageUUID", ifPresent: sourceImageUUID.map(JSONValue.string))
        }
        o.append("score", score.map(JSONValue.number) ?? .null)
        o.append("changedPixels", .int(Int64(changedPixels)))
        o.append("protectedPixels", .int(Int64(protectedPixels)))
        return .object(o)
    }

    /// Reads the wire form written by ``json``.
    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        mode = try r.enumValue("mode") ?? .measure
        _ = try r.bool("composited")
        feather = try r.int("feather").map { Int($0) }
        sourceImageUUID = try r.string("sourceImageUUID")
        score = try r.double("score")
        changedPixels = Int(try r.int("changedPixels") ?? 0)
        protectedPixels = Int(try r.int("protectedPixels") ?? 0)
    }
}

extension ErrorCode {
    /// `preserve.minScore` under `measure` was not reached by any sample; `details.scores` lists every score.
    public static let preserveNotReached: ErrorCode = "preserve_not_reached"
}
