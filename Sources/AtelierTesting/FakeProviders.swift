import AtelierCore
import Foundation

/// The keys the fakes accept. Tests use fresh random ones (so a leak is unambiguous when searched for);
/// `atelier-fakes` uses fixed, obviously fake ones unless told otherwise.
public struct FakeKeys: Sendable, Equatable {
    public var gemini: String
    public var runware: String
    public var bfl: String
    /// `user:pass` for the A1111 fake's Basic auth, or nil for none.
    public var a1111: String?

    public init(gemini: String, runware: String, bfl: String, a1111: String?) {
        self.gemini = gemini
        self.runware = runware
        self.bfl = bfl
        self.a1111 = a1111
    }

    /// Fresh, distinctive keys.
    public static func random() -> FakeKeys {
        func k(_ p: String) -> String { p + "-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }
        return FakeKeys(gemini: k("AQ.fakegemini"), runware: k("fakerunware"), bfl: k("fakebfl"), a1111: "atelier:" + k("fakesdpass"))
    }

    /// The fixed keys of the demo's simulation (not secrets: they only open the loopback fakes).
    public static let simulation = FakeKeys(
        gemini: "SIMULATION-gemini-key", runware: "SIMULATION-runware-key", bfl: "SIMULATION-bfl-key", a1111: "atelier:SIMULATION-sd-pass")

    /// Every secret, in every form it may take on the wire (the whole value, base64 of it, the password half).
    public var secretForms: [String] {
        var out: [String] = []
        for s in [gemini, runware, bfl, a1111].compactMap({ $0 }) {
            out.append(s)
            out.append(Data(s.utf8).base64EncodedString())
            if let colon = s.firstIndex(of: ":") { out.append(String(s[s.index(after: colon)...])) }
        }
        return out
    }
}

/// All four fakes, started together.
public final class FakeProviders: Sendable {
    public let keys: FakeKeys
    public let gemini: GeminiFake
    public let runware: RunwareFake
    public let bfl: BFLFake
    public let a1111: A1111Fake

    /// The fakes by provider id.
    public var all: [any FakeProvider] { [gemini, runware, bfl, a1111] }

    private init(keys: FakeKeys, gemini: GeminiFake, runware: RunwareFake, bfl: BFLFake, a1111: A1111Fake) {
        self.keys = keys
        self.gemini = gemini
        self.runware = runware
        self.bfl = bfl
        self.a1111 = a1111
    }

    /// Starts the four fakes on ephemeral loopback ports.
    /// - Parameters:
    ///   - runwarePolls, bflPolls: polls answered `processing` / `Pending` before a generation finishes.
    public static func start(
        keys: FakeKeys = .random(), runwarePolls: Int = 2, bflPolls: Int = 2, geminiRetryDelay: String = "0.2s", echoKeysInErrors: Bool = false
    ) async throws -> FakeProviders {
        let g = try await GeminiFake.start(apiKey: keys.gemini, rateLimitRetryDelay: geminiRetryDelay, echoKeyInErrors: echoKeysInErrors)
        let r = try await RunwareFake.start(apiKey: keys.runware, pollsBeforeDone: runwarePolls, echoKeyInErrors: echoKeysInErrors)
        let b = try await BFLFake.start(apiKey: keys.bfl, pollsBeforeReady: bflPolls, echoKeyInErrors: echoKeysInErrors)
        let a = try await A1111Fake.start(credentials: keys.a1111)
        return FakeProviders(keys: keys, gemini: g, runware: r, bfl: b, a1111: a)
    }

    /// Base URLs by provider id.
    public var baseURLs: [String: String] {
        ["gemini": gemini.baseURL, "runware": runware.baseURL, "bfl": bfl.baseURL, "a1111": a1111.baseURL]
    }

    /// The daemon environment for the given providers: each key variable and `ATELIER_<ID>_BASE_URL`.
    /// `keyOverrides` replaces a key (e.g. a wrong one, to provoke an auth error).
    public func environment(for providers: Set<String> = ["gemini", "runware", "bfl", "a1111"], keyOverrides: [String: String] = [:]) -> [String: String] {
        var env: [String: String] = [:]
        if providers.contains("gemini") {
            env["GEMINI_API_KEY"] = keyOverrides["gemini"] ?? keys.gemini
            env["ATELIER_GEMINI_BASE_URL"] = gemini.baseURL
        }
        if providers.contains("runware") {
            env["RUNWARE_API_KEY"] = keyOverrides["runware"] ?? keys.runware
            env["ATELIER_RUNWARE_BASE_URL"] = runware.baseURL
        }
        if providers.contains("bfl") {
            env["BFL_API_KEY"] = keyOverrides["bfl"] ?? keys.bfl
            env["ATELIER_BFL_BASE_URL"] = bfl.baseURL
        }
        if providers.contains("a1111") {
            if let k = keyOverrides["a1111"] ?? keys.a1111 { env["SDWEBUI_AUTH"] = k }
            env["ATELIER_A1111_BASE_URL"] = a1111.baseURL
        }
        return env
    }

    /// Every request any fake received, ordered by fake then arrival.
    public var allRequests: [RecordedRequest] { all.flatMap { $0.log.all } }

    /// Stops every server.
    public func shutdown() async {
        for f in all { await f.shutdown() }
    }

    /// Starts the fakes, runs `body`, and shuts them down whatever happens.
    public static func with<T>(
        keys: FakeKeys = .random(), runwarePolls: Int = 2, bflPolls: Int = 2, echoKeysInErrors: Bool = false,
        _ body: (FakeProviders) async throws -> T
    ) async throws -> T {
        let fakes = try await start(keys: keys, runwarePolls: runwarePolls, bflPolls: bflPolls, echoKeysInErrors: echoKeysInErrors)
        do {
            let r = try await body(fakes)
            await fakes.shutdown()
            return r
        } catch {
            await fakes.shutdown()
            throw error
        }
    }
}
