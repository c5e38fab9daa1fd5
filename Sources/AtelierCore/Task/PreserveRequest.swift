import Foundation

/// A task's `preserve` member: a region of the reference image an edit must not change (issue 15,
/// docs/consistency.md).
///
/// The region is a mask image (white = keep, resized to the reference) or a rectangle in the reference's pixels.
/// `measure` reports the region's drift between the reference and the result; `composite` pastes the reference's
/// protected pixels into the result. Checks that need the pixels (the mask's aspect ratio, a rectangle outside the
/// image) are made by the region operations in AtelierImaging (`ProtectedRegion`).
public struct PreserveRequest: Sendable, Equatable {
    /// A rectangle in the reference image's pixels, origin at the top left.
    public struct Rect: Sendable, Equatable {
        /// Left edge, 0 or more.
        public var x: Int
        /// Top edge, 0 or more.
        public var y: Int
        /// Width, at least 1.
        public var width: Int
        /// Height, at least 1.
        public var height: Int

        /// Creates a rectangle; the values are not checked.
        public init(x: Int, y: Int, width: Int, height: Int) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
        }
    }

    /// The protected region.
    public enum Region: Sendable, Equatable {
        /// A mask image: white keeps, black lets the edit change the pixel.
        case mask(ReferenceImage)
        /// A rectangle in the reference's pixels.
        case rect(Rect)
    }

    /// What the daemon does with the region.
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Report `result.preserve = {score, changedPixels}`.
        case measure
        /// Paste the reference's protected pixels into the result (feathered edge of at most 8 px inside).
        case composite
    }

    /// The protected region.
    public var region: Region
    /// What the daemon does with it.
    public var mode: Mode
    /// The SSIM score (0–1) the region must keep under `measure`; nil reports without retrying.
    public var minScore: Double?

    /// Creates a request; the values are not checked.
    public init(region: Region, mode: Mode, minScore: Double? = nil) {
        self.region = region
        self.mode = mode
        self.minScore = minScore
    }

    /// Parses the `preserve` member read by `r` (a reader positioned on it).
    /// - Parameter referenceCount: the task's number of `referenceImages`: the first one is the image protected.
    /// - Throws: `invalid_value` (-32602) with the member's pointer: `preserve` on a task without a reference image
    ///   (field `/preserve`), both or neither of `mask` and `rect`, a rectangle with a negative origin or a size
    ///   below 1, `minScore` outside 0–1, a missing or unknown `mode`; `invalid_reference_image` for a malformed mask.
    public static func parse(_ r: inout FieldReader, referenceCount: Int) throws(AtelierError) -> PreserveRequest {
        guard referenceCount > 0 else {
            throw AtelierError(
                .invalidValue, "preserve needs the image being edited: give it as the first of referenceImages", field: r.path)
        }
        let maskText = try r.string("mask")
        let rectReader = try r.nested("rect")
        let region: Region
        switch (maskText, rectReader) {
        case (let m?, nil):
            region = .mask(try ReferenceImage.parse(m, field: r.pointer("mask")))
        case (nil, var q?):
            region = .rect(try parseRect(&q))
        case (_?, _?):
            throw AtelierError(.invalidValue, "give preserve.mask or preserve.rect, not both", field: r.pointer("rect"))
        case (nil, nil):
            throw AtelierError(.missingField, "preserve needs a mask or a rect", field: r.pointer("mask"))
        }
        guard let mode: Mode = try r.enumValue("mode") else {
            throw AtelierError(
                .missingField, "preserve.mode is required (\"measure\" or \"composite\")", field: r.pointer("mode"),
                details: ["allowed": ["measure", "composite"]])
        }
        let minScore = try r.double("minScore", in: 0...1)
        try r.finish()
        return PreserveRequest(region: region, mode: mode, minScore: minScore)
    }

    private static func parseRect(_ q: inout FieldReader) throws(AtelierError) -> Rect {
        func required(_ key: String, min: Int64) throws(AtelierError) -> Int {
            guard let v = try q.int(key) else { throw AtelierError(.missingField, "rect.\(key) is required", field: q.pointer(key)) }
            guard v >= min, v <= 1 << 20 else {
                let what = min == 0 ? "zero or more" : "at least \(min)"
                throw AtelierError(.invalidValue, "rect.\(key) must be \(what) (and at most 1048576), not \(v)", field: q.pointer(key))
            }
            return Int(v)
        }
        let rect = Rect(
            x: try required("x", min: 0), y: try required("y", min: 0), width: try required("width", min: 1), height: try required("height", min: 1))
        try q.finish()
        return rect
    }

    /// The canonical JSON form: fixed member order, absent optionals omitted.
    public var json: JSONValue {
        var o = JSONObject()
        switch region {
        case .mask(let ref): o.append("mask", .string(ref.description))
        case .rect(let r):
            o.append(
                "rect",
                .object(["x": .int(Int64(r.x)), "y": .int(Int64(r.y)), "width": .int(Int64(r.width)), "height": .int(Int64(r.height))]))
        }
        o.append("mode", .string(mode.rawValue))
        o.append("minScore", ifPresent: minScore.map(JSONValue.number))
        return .object(o)
    }
}
