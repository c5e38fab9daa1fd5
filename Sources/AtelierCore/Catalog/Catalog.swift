import Foundation

/// How to reach one provider and how hard to push it.
public struct ProviderConfig: Sendable, Equatable {
    /// The provider id (`local`, `gemini`, `runware`, `bfl`, `a1111`, …); the file name without `.json`.
    public var id: String
    /// The wire protocol.
    public var kind: ProviderKind
    /// A human name.
    public var displayName: String
    /// The API base URL (overridable by env `ATELIER_<ID>_BASE_URL`).
    public var baseURL: String?
    /// The environment variable holding the API key (nil when none is needed).
    public var apiKeyEnv: String?
    /// Whether the provider is usable without a key (self-hosted servers with optional auth).
    public var keyOptional: Bool
    /// Provider calls in flight at once.
    public var concurrency: Int
    /// Deadline for one HTTP request, in seconds.
    public var requestTimeoutSeconds: Double
    /// Deadline for a whole generation including polling, in seconds.
    public var totalTimeoutSeconds: Double
    /// Retry policy for retryable failures.
    public var retry: RetryPolicy
    /// The provider's models.
    public var models: [ModelCard]
    /// Where this config came from (for error messages).
    public var source: String
    /// The provider's batch interface (`batch`), nil when it has none or it is not used.
    public var batch: BatchSettings? = nil

    /// The environment variable that overrides ``baseURL``: `ATELIER_<ID>_BASE_URL`, upper-cased, `-` as `_`.
    public var baseURLEnv: String {
        "ATELIER_" + id.uppercased().replacingOccurrences(of: "-", with: "_") + "_BASE_URL"
    }

    /// Creates a config.
    public init(
        id: String, kind: ProviderKind, displayName: String, baseURL: String? = nil, apiKeyEnv: String? = nil, keyOptional: Bool = false,
        concurrency: Int = 4, requestTimeoutSeconds: Double = 120, totalTimeoutSeconds: Double = 900, retry: RetryPolicy = .init(),
        models: [ModelCard], source: String = "<memory>"
    ) {
        self.id = id
        self.kind = kind
        self.displayName = displayName
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        self.keyOptional = keyOptional
        self.concurrency = concurrency
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.totalTimeoutSeconds = totalTimeoutSeconds
        self.retry = retry
        self.models = models
        self.source = source
    }
}

/// Bounded exponential backoff with jitter.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts on one model, including the first.
    public var maxAttempts: Int
    /// The first delay, in seconds.
    public var baseDelaySeconds: Double
    /// The longest delay, in seconds.
    public var maxDelaySeconds: Double

    public init(maxAttempts: Int = 3, baseDelaySeconds: Double = 1, maxDelaySeconds: Double = 30) {
        self.maxAttempts = maxAttempts
        self.baseDelaySeconds = baseDelaySeconds
        self.maxDelaySeconds = maxDelaySeconds
    }

    /// The delay before retry number `attempt` (1 = first retry), with "full jitter" from `unitRandom` in 0..<1.
    public func delay(beforeRetry attempt: Int, unitRandom: Double) -> Double {
        let exp = baseDelaySeconds * Double(1 << min(max(attempt - 1, 0), 20))
        let capped = min(exp, maxDelaySeconds)
        return capped / 2 + capped / 2 * unitRandom
    }
}

/// Every provider and model Atelier knows, indexed for lookup by id or alias.
public struct Catalog: Sendable, Equatable {
    /// Providers in load order (file name order).
    public let providers: [ProviderConfig]
    /// All models, in provider order then file order.
    public let models: [ModelCard]
    private let index: [String: Int]

    /// Builds a catalog; ids and aliases must be unique (checked by ``CatalogLoader``).
    public init(providers: [ProviderConfig]) {
        self.providers = providers
        self.models = providers.flatMap(\.models)
        var idx: [String: Int] = [:]
        for (i, m) in models.enumerated() {
            for name in m.allIDs where idx[name] == nil { idx[name] = i }
        }
        self.index = idx
    }

    /// The model with this id or alias.
    public func model(_ idOrAlias: String) -> ModelCard? { index[idOrAlias].map { models[$0] } }

    /// The provider with this id.
    public func provider(_ id: String) -> ProviderConfig? { providers.first { $0.id == id } }

    public static func == (a: Catalog, b: Catalog) -> Bool { a.providers == b.providers }
}
