import AtelierCore

/// A workflow as the daemon renders it (`workflow.get`, `.wait`, `.select`, `.cancel`, `.submit`), with typed
/// access to what callers steer by: its id, its state, the variants' images and the final. ``json`` is the whole
/// document (costs, recipe, jobs) as docs/protocol.md describes it.
public struct WorkflowDocument: Sendable, Equatable {
    /// One stage job: a variant or the final.
    public struct Stage: Sendable, Equatable {
        /// `pending`, `queued`, `running`, `succeeded`, `failed`, `cancelled`.
        public var status: String
        /// The model that ran (or runs) it.
        public var model: String?
        /// The image's id, once it succeeded.
        public var imageUUID: String?
        /// The image file, once it succeeded.
        public var path: String?
        /// The stage as rendered.
        public var json: JSONValue

        init(_ v: JSONValue) {
            json = v
            status = v["status"]?.stringValue ?? "?"
            model = v["model"]?.stringValue
            imageUUID = v["image"]?["imageUUID"]?.stringValue
            path = v["image"]?["path"]?.stringValue
        }
    }

    /// The workflow's id.
    public var workflowUUID: String
    /// Its state.
    public var state: WorkflowState
    /// The ideation variants, in order.
    public var variants: [Stage]
    /// The selected variant's image, once chosen.
    public var selectedImageUUID: String?
    /// The final stage.
    public var final: Stage
    /// The whole document.
    public var json: JSONValue

    /// Reads a rendered workflow; throws ``AtelierClientError/Code/badResponse`` when it is not one.
    public init(_ v: JSONValue) throws(AtelierClientError) {
        guard let id = v["workflowUUID"]?.stringValue, let s = v["state"]?.stringValue.flatMap(WorkflowState.init(rawValue:)),
            let f = v["stages"]?["final"]
        else { throw AtelierClientError.badResponse("not a workflow: \(v.description.prefix(200))") }
        json = v
        workflowUUID = id
        state = s
        variants = (v["stages"]?["ideation"]?["variants"]?.arrayValue ?? []).map(Stage.init)
        selectedImageUUID = v["stages"]?["selection"]?["imageUUID"]?.stringValue
        final = Stage(f)
    }

    /// The image of variant `n` (1-based) when that variant succeeded.
    public func variantImage(_ n: Int) -> String? {
        guard n >= 1, n <= variants.count, variants[n - 1].status == "succeeded" else { return nil }
        return variants[n - 1].imageUUID
    }
}
