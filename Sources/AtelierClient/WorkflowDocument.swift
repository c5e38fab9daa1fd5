import AtelierCore

/// A workflow as the daemon renders it (`workflow.get`, `.wait`, `.select`, `.cancel`, `.submit`), with typed
/// access to what callers steer by and what the CLI prints: its id, its state, the variants and the final with
/// their images, the selection, the cost and the error. ``json`` is the whole document (request, jobs, recipe) as
/// docs/protocol.md describes it.
public struct WorkflowDocument: Sendable, Equatable {
    /// A stage's stored image.
    public struct Image: Sendable, Equatable {
        /// The image's id.
        public var imageUUID: String
        /// The image file.
        public var path: String
        /// Its SHA-256.
        public var sha256: String?
        /// Its pixels.
        public var width: Int?
        public var height: Int?
    }

    /// Why a stage or the workflow failed.
    public struct Failure: Sendable, Equatable {
        /// One model that cannot serve a stage, and why (a routing failure's `rejections`).
        public struct Rejection: Sendable, Equatable {
            public var model: String
            public var reason: String
        }

        /// The stable code.
        public var code: String
        /// What went wrong.
        public var message: String
        /// Per model, why it cannot serve the stage (empty unless no model could).
        public var rejections: [Rejection]

        init?(_ v: JSONValue?) {
            guard let v, !v.isNull else { return nil }
            code = v["code"]?.stringValue ?? ""
            message = v["message"]?.stringValue ?? ""
            rejections = (v["rejections"]?.objectValue?.members ?? []).map {
                Rejection(model: $0.key, reason: $0.value.stringValue ?? $0.value.description)
            }
        }
    }

    /// One stage job: a variant or the final.
    public struct Stage: Sendable, Equatable {
        /// `pending`, `queued`, `running`, `succeeded`, `failed`, `cancelled`.
        public var status: String
        /// The model that ran (or runs) it.
        public var model: String?
        /// What it cost, once it ran.
        public var costUSD: Double?
        /// Its image, once it succeeded.
        public var image: Image?
        /// The seed (the final stage).
        public var seed: Int64?
        /// Why it failed.
        public var error: Failure?
        /// The recipe of its image (the final stage of a seed-honouring model), as rendered.
        public var recipe: JSONValue?
        /// The stage as rendered.
        public var json: JSONValue

        /// The image's id, once it succeeded.
        public var imageUUID: String? { image?.imageUUID }
        /// The image file, once it succeeded.
        public var path: String? { image?.path }

        init(_ v: JSONValue) {
            json = v
            status = v["status"]?.stringValue ?? "?"
            model = v["model"]?.stringValue
            costUSD = v["costUSD"]?.doubleValue
            if let i = v["image"], let id = i["imageUUID"]?.stringValue, let path = i["path"]?.stringValue {
                image = Image(
                    imageUUID: id, path: path, sha256: i["sha256"]?.stringValue, width: i["width"]?.intValue.map(Int.init),
                    height: i["height"]?.intValue.map(Int.init))
            }
            seed = v["seed"]?.intValue
            error = Failure(v["error"])
            // Not `flatMap { $0.isNull ? nil : $0 }`: JSONValue is nil-literal expressible, so that `nil` is `.null`.
            if let r = v["recipe"], !r.isNull { recipe = .some(r) } else { recipe = .none }
        }
    }

    /// The chosen variant.
    public struct Selection: Sendable, Equatable {
        /// Its image.
        public var imageUUID: String
        /// Its index among the variants (0-based).
        public var variantIndex: Int?
        /// `client` or `auto`.
        public var selectedBy: String?
    }

    /// What the workflow cost, and what it would have cost all on the most expensive candidate.
    public struct Cost: Sendable, Equatable {
        public var ideationUSD: Double?
        public var finalUSD: Double?
        public var totalUSD: Double?
        /// The most expensive candidate model, when there was one to compare with.
        public var baselineModel: String?
        /// Everything on that model.
        public var baselineUSD: Double?
        /// What the hybrid saved against it (negative: it cost more).
        public var savingsUSD: Double?
        /// ``savingsUSD`` in percent of the baseline.
        public var savingsPercent: Double?

        init(_ c: JSONValue) {
            ideationUSD = c["ideationUSD"]?.doubleValue
            finalUSD = c["finalUSD"]?.doubleValue
            totalUSD = c["totalUSD"]?.doubleValue
            baselineModel = c["allOnMostExpensive"]?["model"]?.stringValue
            baselineUSD = c["allOnMostExpensive"]?["totalUSD"]?.doubleValue
            savingsUSD = c["savingsUSD"]?.doubleValue
            savingsPercent = c["savingsPercent"]?.doubleValue
        }
    }

    /// The workflow's id.
    public var workflowUUID: String
    /// Its state.
    public var state: WorkflowState
    /// The ideation variants, in order.
    public var variants: [Stage]
    /// The selected variant, once chosen.
    public var selection: Selection?
    /// The final stage.
    public var final: Stage
    /// The cost so far.
    public var cost: Cost?
    /// Why the workflow failed.
    public var error: Failure?
    /// The whole document.
    public var json: JSONValue

    /// The selected variant's image, once chosen.
    public var selectedImageUUID: String? { selection?.imageUUID }

    /// Reads a rendered workflow; throws ``AtelierClientError/Code/badResponse`` when it is not one.
    public init(_ v: JSONValue) throws(AtelierClientError) {
        guard let id = v["workflowUUID"]?.stringValue, let s = v["state"]?.stringValue.flatMap(WorkflowState.init(rawValue:)),
            let f = v["stages"]?["final"]
        else { throw AtelierClientError.badResponse("not a workflow: \(v.description.prefix(200))") }
        json = v
        workflowUUID = id
        state = s
        variants = (v["stages"]?["ideation"]?["variants"]?.arrayValue ?? []).map(Stage.init)
        if let sel = v["stages"]?["selection"], let image = sel["imageUUID"]?.stringValue {
            selection = Selection(
                imageUUID: image, variantIndex: sel["variantIndex"]?.intValue.map(Int.init), selectedBy: sel["selectedBy"]?.stringValue)
        }
        final = Stage(f)
        cost = v["cost"].flatMap { $0.isNull ? nil : Cost($0) }
        error = Failure(v["error"])
    }

    /// The image of variant `n` (1-based) when that variant succeeded.
    public func variantImage(_ n: Int) -> String? {
        guard n >= 1, n <= variants.count, variants[n - 1].status == "succeeded" else { return nil }
        return variants[n - 1].imageUUID
    }
}
