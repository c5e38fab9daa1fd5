/// Compares what a provider delivered with what the task asked for, field by field. Pure: the caller reads the
/// pixel size and MIME type from the stored image bytes and passes what the provider echoed.
///
/// Rules (docs/routing.md, "Verification"):
/// - `width`/`height`: the pixels of the image bytes against the resolved size sent to the provider.
/// - `mimeType`: the MIME type sniffed from the bytes against the task's `outputFormat`.
/// - `model`: the model id the provider echoed (Gemini `modelVersion`) against the catalog's upstream id; a
///   `models/` prefix is ignored. Not checked when the provider echoes none.
/// - `seed`: the seed the provider echoed against the seed sent; an image of a call may carry the seed sent plus
///   an offset below `numberResults` (image `i` gets seed + `i`, the convention the engine also uses for images
///   without an echoed seed; providers may answer the images in any order). Not checked when no seed was sent or
///   none came back.
/// - `count`: the number of images delivered against `numberResults` (reported on every image of the call).
public enum ResultVerifier {
    /// What was asked for, as accepted and resolved.
    public struct Requested: Sendable, Equatable {
        /// The resolved pixel width sent to the provider.
        public var width: Int
        /// The resolved pixel height sent to the provider.
        public var height: Int
        /// The task's output format.
        public var outputFormat: OutputFormat
        /// The task's `numberResults`.
        public var numberResults: Int
        /// The seed sent, when one was.
        public var seed: Int64?
        /// The catalog's upstream id of the model called.
        public var upstreamModel: String

        /// What a task asked of a model at a resolved size; `seed` is the seed actually sent (nil when none was).
        public init(width: Int, height: Int, outputFormat: OutputFormat, numberResults: Int, seed: Int64?, upstreamModel: String) {
            self.width = width
            self.height = height
            self.outputFormat = outputFormat
            self.numberResults = numberResults
            self.seed = seed
            self.upstreamModel = upstreamModel
        }
    }

    /// What came back for one image.
    public struct Delivered: Sendable, Equatable {
        /// The pixel width read from the image bytes.
        public var width: Int
        /// The pixel height read from the image bytes.
        public var height: Int
        /// The MIME type read from the image bytes.
        public var mimeType: String
        /// The model id the provider echoed, if any.
        public var model: String?
        /// The seed the provider echoed, if any.
        public var seed: Int64?
        /// How many images the call delivered.
        public var count: Int

        /// One delivered image (`count`: how many images the whole call delivered).
        public init(width: Int, height: Int, mimeType: String, model: String?, seed: Int64?, count: Int) {
            self.width = width
            self.height = height
            self.mimeType = mimeType
            self.model = model
            self.seed = seed
            self.count = count
        }
    }

    /// Verifies image `index` (0-based) of a call (the index is kept for reports; every check is order-free).
    public static func verify(_ requested: Requested, _ delivered: Delivered, index: Int = 0) -> ResultVerification {
        var m: [ResultMismatch] = []
        if delivered.width != requested.width {
            m.append(ResultMismatch(field: "width", requested: .int(Int64(requested.width)), delivered: .int(Int64(delivered.width))))
        }
        if delivered.height != requested.height {
            m.append(ResultMismatch(field: "height", requested: .int(Int64(requested.height)), delivered: .int(Int64(delivered.height))))
        }
        if delivered.mimeType.lowercased() != requested.outputFormat.mimeType {
            m.append(ResultMismatch(field: "mimeType", requested: .string(requested.outputFormat.mimeType), delivered: .string(delivered.mimeType)))
        }
        if let served = delivered.model, !isSameModel(served, requested.upstreamModel) {
            m.append(ResultMismatch(field: "model", requested: .string(requested.upstreamModel), delivered: .string(served)))
        }
        if let sent = requested.seed, let echoed = delivered.seed, !(0..<Int64(max(requested.numberResults, 1))).contains(echoed &- sent) {
            m.append(ResultMismatch(field: "seed", requested: .int(sent), delivered: .int(echoed)))
        }
        if delivered.count != requested.numberResults {
            m.append(ResultMismatch(field: "count", requested: .int(Int64(requested.numberResults)), delivered: .int(Int64(delivered.count))))
        }
        return ResultVerification(mismatches: m)
    }

    /// True when two upstream model ids name the same model (Gemini's `models/` prefix ignored).
    public static func isSameModel(_ a: String, _ b: String) -> Bool { modelID(a) == modelID(b) }

    /// A model id without Gemini's `models/` resource prefix.
    static func modelID(_ id: String) -> Substring {
        id.hasPrefix("models/") ? id.dropFirst("models/".count) : Substring(id)
    }
}
