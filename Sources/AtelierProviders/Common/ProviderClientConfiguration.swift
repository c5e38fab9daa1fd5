import AtelierCore

/// How a network provider client reaches its upstream: one value per provider, built once by
/// ``NetworkProviders/make(config:credentials:transport:clock:)`` from the catalog entry (`providers/<id>.json`, the
/// operator's base-URL override already applied) and the key from the environment, over the client's ``defaults``.
/// Every network client holds one, so a new client adds no configuration plumbing of its own.
public struct ProviderClientConfiguration: Sendable {
    /// The provider id (`providers/<id>.json`).
    public var id: String
    /// The upstream's base URL: the catalog's, or the operator's `ATELIER_<ID>_BASE_URL` override. Its only owner.
    public var baseURL: String
    /// The API key or credentials from the environment, nil when none is configured. Its only owner; never logged.
    public var credentials: Credentials?
    /// Deadline of one HTTP call.
    public var requestTimeoutSeconds: Double
    /// Deadline of a whole generation, polling included.
    public var totalTimeoutSeconds: Double
    /// The largest answer read into memory.
    public var maxResponseBytes: Int
    /// The largest image downloaded.
    public var maxImageBytes: Int
    /// How asynchronous APIs are polled.
    public var polling: Polling

    /// How an asynchronous API is polled until its result is ready.
    public struct Polling: Sendable {
        /// Time for waits and deadlines (tests pass a manual clock).
        public var clock: AtelierClock
        /// The delays between polls.
        public var backoff: PollBackoff
        /// Consecutive transient poll (or download) failures tolerated before giving up: the work is paid for, so
        /// keep asking.
        public var maxTransientFailures: Int

        /// Polling on `clock` with the delays of `backoff`, giving up after `maxTransientFailures` consecutive
        /// transient failures.
        public init(clock: AtelierClock = .live, backoff: PollBackoff = .runware, maxTransientFailures: Int = 5) {
            self.clock = clock
            self.backoff = backoff
            self.maxTransientFailures = maxTransientFailures
        }
    }

    public init(
        id: String, baseURL: String, credentials: Credentials? = nil, requestTimeoutSeconds: Double = 60, totalTimeoutSeconds: Double = 600,
        maxResponseBytes: Int = 8 << 20, maxImageBytes: Int = 64 << 20, polling: Polling = Polling()
    ) {
        self.id = id
        self.baseURL = baseURL
        self.credentials = credentials
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.totalTimeoutSeconds = totalTimeoutSeconds
        self.maxResponseBytes = maxResponseBytes
        self.maxImageBytes = maxImageBytes
        self.polling = polling
    }

    /// The configuration for a catalog entry: its id, base URL (else the default's) and timeouts, the key, and the
    /// client's own limits and polling from `defaults`, on `clock`.
    public init(config: ProviderConfig, credentials: Credentials?, clock: AtelierClock, defaults: ProviderClientConfiguration) {
        self = defaults
        id = config.id
        baseURL = config.baseURL ?? defaults.baseURL
        self.credentials = credentials
        requestTimeoutSeconds = config.requestTimeoutSeconds
        totalTimeoutSeconds = config.totalTimeoutSeconds
        polling.clock = clock
    }

    /// A copy with `change` applied (tests: `XProvider.defaults.with { $0.credentials = … }`).
    public func with(_ change: (inout ProviderClientConfiguration) -> Void) -> ProviderClientConfiguration {
        var c = self
        change(&c)
        return c
    }
}
