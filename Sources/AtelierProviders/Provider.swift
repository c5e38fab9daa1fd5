import AtelierCore

/// A generation backend. One value per configured provider; it must be safe to call concurrently (the engine
/// bounds concurrency per provider).
///
/// Providers are thin: they encode the request (a pure codec), send it through an ``HTTPTransport``, decode
/// the answer (a pure codec) and write image bytes to files in ``GenerationRequest/scratchDirectory``. Retry,
/// fallback, breakers, hashing and storage are decided once, in the engine, from the ``ProviderError`` code.
public protocol Provider: Sendable {
    /// The provider id (matches `providers/<id>.json`).
    var id: String { get }

    /// Generates all images of a request.
    ///
    /// An asynchronous provider must call ``GenerationContext/recordResumeHandle(_:)`` with its upstream
    /// handle *before* it starts waiting, so that a restarted daemon resumes instead of paying again.
    func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage]

    /// Continues a generation that was in flight when the daemon stopped, from the handle it recorded.
    /// Providers without asynchronous calls throw ``ProviderError/notResumable``.
    func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage]

    /// Asks the provider which of `modelIDs` (upstream ids) exist today. Providers that cannot tell return nil.
    func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]?

    /// Both directions of `models.verify` from one listing: which of `upstreamIDs` exist today, and which image
    /// models the provider lists that are not among them (nil when the provider has no complete listing). The
    /// default asks ``verifyModels(_:)`` and lists nothing more.
    func checkModels(_ upstreamIDs: [String]) async throws(ProviderError) -> ModelListingCheck?
}

/// What a provider's model listing says about a catalog: the configured ids, and the image models it lists beyond them.
public struct ModelListingCheck: Sendable, Equatable {
    /// Each configured upstream id's state.
    public var configured: [String: ModelVerification]
    /// Image models the provider lists that none of the configured ids names, sorted; nil when the provider cannot
    /// list all its models (the reverse direction is not checked then).
    public var uncatalogued: [String]?

    public init(configured: [String: ModelVerification], uncatalogued: [String]?) {
        self.configured = configured
        self.uncatalogued = uncatalogued
    }

    /// The check of `upstreamIDs` against a complete listing: listed ids are present, others missing; listed image
    /// models (`isImageModel`) that are not configured are uncatalogued.
    public static func against(listing: [String], upstreamIDs: [String], isImageModel: (String) -> Bool) -> ModelListingCheck {
        let listed = Set(listing)
        let configured = Set(upstreamIDs)
        var out: [String: ModelVerification] = [:]
        for id in upstreamIDs { out[id] = listed.contains(id) ? .present : .missing }
        return ModelListingCheck(configured: out, uncatalogued: listed.filter { !configured.contains($0) && isImageModel($0) }.sorted())
    }
}

extension Provider {
    public func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        throw ProviderError.notResumable
    }

    public func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? { nil }

    public func checkModels(_ upstreamIDs: [String]) async throws(ProviderError) -> ModelListingCheck? {
        try await verifyModels(upstreamIDs).map { ModelListingCheck(configured: $0, uncatalogued: nil) }
    }
}

/// What a provider says about one configured model id.
public enum ModelVerification: String, Sendable, Equatable {
    /// Listed and usable.
    case present
    /// Not listed (retired or renamed).
    case missing
    /// Listed but flagged as deprecated/retiring.
    case deprecated
}

/// Everything a provider needs for one call, already validated and resolved by the core. Where to send it and with
/// which key is the client's own (``ProviderClientConfiguration``), not the request's.
public struct GenerationRequest: Sendable {
    /// The task as accepted.
    public var task: ImageTask
    /// The model card chosen by the router.
    public var model: ModelCard
    /// The exact size to produce.
    public var size: ResolvedSize
    /// The seed to send (always set for models that accept seeds; the engine generates one when the task had none).
    public var seed: Int64?
    /// Reference images, loaded and checked.
    public var references: [LoadedReference]
    /// A directory the provider writes image files into (one file per image).
    public var scratchDirectory: String
    /// A stable key for this attempt (a UUID v4). Providers that take a client id (Runware `taskUUID`) send it,
    /// so a retried or resumed call is recognisable upstream.
    public var attemptKey: String
    /// When the job was submitted: a duration deadline (`requirements.deadline: "36h"`) counts from here, not from
    /// this attempt (nil: from now).
    public var submittedAt: Timestamp? = nil
    /// How writes of result files into ``scratchDirectory`` meet a storage fault: run every write of an image held in
    /// memory through it (``ResultWrites/perform(_:)``), so a full disk waits instead of losing a paid image.
    public var resultWrites: ResultWrites = .once
    public init(
        task: ImageTask, model: ModelCard, size: ResolvedSize, seed: Int64?, references: [LoadedReference], scratchDirectory: String,
        attemptKey: String
    ) {
        self.task = task
        self.model = model
        self.size = size
        self.seed = seed
        self.references = references
        self.scratchDirectory = scratchDirectory
        self.attemptKey = attemptKey
    }
}

/// A secret that must never appear in logs, errors, the store or test output.
public struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret value.
    public let secret: String
    public init(_ secret: String) { self.secret = secret }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// A reference image loaded into memory and checked.
public struct LoadedReference: Sendable, Equatable {
    public var data: [UInt8]
    public var mimeType: String
    public var width: Int
    public var height: Int
    /// Lowercase hex SHA-256 of ``data``.
    public var sha256: String
    /// The public URL it came from, when it was given as one (some providers accept URLs directly).
    public var sourceURL: String?

    public init(data: [UInt8], mimeType: String, width: Int, height: Int, sha256: String, sourceURL: String? = nil) {
        self.data = data
        self.mimeType = mimeType
        self.width = width
        self.height = height
        self.sha256 = sha256
        self.sourceURL = sourceURL
    }
}

/// One image a provider produced, already written to a file.
public struct GeneratedImage: Sendable, Equatable {
    /// The file the provider wrote (inside the scratch directory).
    public var path: String
    /// The MIME type the provider reported (the engine checks it against the bytes).
    public var mimeType: String
    /// The seed the provider reports it used, if any.
    public var seed: Int64?
    /// What this image cost, in USD; nil when unknown.
    public var costUSD: Double?
    /// Where ``costUSD`` comes from (the provider said, computed from usage, the catalog's estimate, unknown); nil
    /// lets the engine decide: a number counts as estimated, no number as the catalog's figure.
    public var costSource: CostSource?
    /// Text that came with the image (Gemini text parts).
    public var note: String?
    /// Parameters actually sent (for recipes), as the provider's wire JSON.
    public var sentParameters: JSONObject
    /// SHA-256, size and header of the file, when the provider computed them while writing it (the engine then
    /// does not read the file again).
    public var digest: ImageDigest?
    /// The model id the provider says served the image (Gemini `modelVersion`), when it echoes one; the engine
    /// verifies it against the catalog's upstream id.
    public var servedModel: String?

    public init(
        path: String, mimeType: String, seed: Int64?, costUSD: Double?, note: String? = nil, sentParameters: JSONObject = [:],
        digest: ImageDigest? = nil, servedModel: String? = nil, costSource: CostSource? = nil
    ) {
        self.costSource = costSource
        self.servedModel = servedModel
        self.path = path
        self.mimeType = mimeType
        self.seed = seed
        self.costUSD = costUSD
        self.note = note
        self.sentParameters = sentParameters
        self.digest = digest
    }
}

/// Callbacks from a provider into the engine during one call.
public struct GenerationContext: Sendable {
    private let record: @Sendable (String) async throws -> Void
    private let cancelled: @Sendable () -> Bool

    /// - Parameters:
    ///   - recordResumeHandle: durably stores the upstream handle (the engine commits it before returning).
    ///   - isCancelled: whether the job was cancelled and the provider should stop at the next safe point.
    public init(recordResumeHandle: @escaping @Sendable (String) async throws -> Void, isCancelled: @escaping @Sendable () -> Bool = { false }) {
        self.record = recordResumeHandle
        self.cancelled = isCancelled
    }

    /// Stores `handle` durably; returns once it is committed.
    public func recordResumeHandle(_ handle: String) async throws(ProviderError) {
        do { try await record(handle) } catch {
            throw ProviderError(.unavailable, "could not record the resume handle: \(error)")
        }
    }

    /// Whether the job has been cancelled.
    public var isCancelled: Bool { cancelled() }

    /// A context that records nothing (tests, one-shot calls).
    public static let none = GenerationContext(recordResumeHandle: { _ in })
}
