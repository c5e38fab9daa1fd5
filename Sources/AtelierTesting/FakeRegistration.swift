import AtelierCore
import Foundation

/// Options the fakes read when they start (each fake reads the ones that concern it).
public struct FakeOptions: Sendable {
    /// Polls the Runware fake answers `processing` before a generation finishes.
    public var runwarePolls: Int
    /// Polls the BFL fake answers `Pending` before a generation is ready.
    public var bflPolls: Int
    /// The `retryDelay` the Gemini fake puts in its 429 answers.
    public var geminiRetryDelay: String
    /// Fakes echo the key they received in their auth errors (to prove the daemon redacts it).
    public var echoKeysInErrors: Bool

    public init(runwarePolls: Int = 2, bflPolls: Int = 2, geminiRetryDelay: String = "0.2s", echoKeysInErrors: Bool = false) {
        self.runwarePolls = runwarePolls
        self.bflPolls = bflPolls
        self.geminiRetryDelay = geminiRetryDelay
        self.echoKeysInErrors = echoKeysInErrors
    }
}

/// One entry of the fakes registry: how ``FakeProviders`` starts the fake of a provider kind and points the daemon
/// at it. Adding a provider adds its fake and one registration to ``FakeRegistration/all``; the keys, the daemon
/// environment, `atelier-fakes` and the test harness follow from it.
public struct FakeRegistration: Sendable {
    /// The provider kind; its raw value is the provider id in `providers/*.json`.
    public let kind: ProviderKind
    /// The daemon's environment variable for the key (`apiKeyEnv` in `providers/<id>.json`).
    public let keyVariable: String
    /// A fresh, distinctive key for tests (a leak is then unambiguous when searched for); nil for no auth.
    public let randomKey: @Sendable () -> String?
    /// The fixed key of the demo's simulation (not a secret: it only opens the loopback fake); nil for no auth.
    public let simulationKey: String?
    /// Starts the fake, accepting `key` (nil: no auth).
    public let start: @Sendable (_ key: String?, _ options: FakeOptions) async throws -> any FakeProvider

    public init(
        kind: ProviderKind, keyVariable: String, randomKey: @escaping @Sendable () -> String?, simulationKey: String?,
        start: @escaping @Sendable (_ key: String?, _ options: FakeOptions) async throws -> any FakeProvider
    ) {
        self.kind = kind
        self.keyVariable = keyVariable
        self.randomKey = randomKey
        self.simulationKey = simulationKey
        self.start = start
    }

    /// The provider id (`gemini`, `runware`, …).
    public var id: String { kind.rawValue }
    /// The daemon's base-URL override variable, `ATELIER_<ID>_BASE_URL`.
    public var baseURLVariable: String { "ATELIER_\(id.uppercased())_BASE_URL" }

    /// A random key with a recognisable prefix.
    static func randomKey(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// Every fake, in start order.
    public static let all: [FakeRegistration] = [
        FakeRegistration(
            kind: .gemini, keyVariable: "GEMINI_API_KEY", randomKey: { randomKey("AQ.fakegemini") }, simulationKey: "SIMULATION-gemini-key",
            start: { key, o in
                try await GeminiFake.start(apiKey: key ?? "", rateLimitRetryDelay: o.geminiRetryDelay, echoKeyInErrors: o.echoKeysInErrors)
            }),
        FakeRegistration(
            kind: .runware, keyVariable: "RUNWARE_API_KEY", randomKey: { randomKey("fakerunware") }, simulationKey: "SIMULATION-runware-key",
            start: { key, o in
                try await RunwareFake.start(apiKey: key ?? "", pollsBeforeDone: o.runwarePolls, echoKeyInErrors: o.echoKeysInErrors)
            }),
        FakeRegistration(
            kind: .bfl, keyVariable: "BFL_API_KEY", randomKey: { randomKey("fakebfl") }, simulationKey: "SIMULATION-bfl-key",
            start: { key, o in try await BFLFake.start(apiKey: key ?? "", pollsBeforeReady: o.bflPolls, echoKeyInErrors: o.echoKeysInErrors) }),
        FakeRegistration(
            kind: .a1111, keyVariable: "SDWEBUI_AUTH", randomKey: { "atelier:" + randomKey("fakesdpass") },
            simulationKey: "atelier:SIMULATION-sd-pass",
            start: { key, _ in try await A1111Fake.start(credentials: key) }),
        FakeRegistration(
            kind: .openai, keyVariable: "OPENAI_API_KEY", randomKey: { randomKey("sk-fakeopenai") }, simulationKey: "SIMULATION-openai-key",
            start: { key, o in try await OpenAIFake.start(apiKey: key ?? "", echoKeyInErrors: o.echoKeysInErrors) }),
    ]
}
