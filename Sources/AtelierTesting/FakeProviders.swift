import AtelierCore
import Foundation

/// The keys the fakes accept, by provider kind. Tests use fresh random ones (so a leak is unambiguous when searched
/// for); `atelier-fakes` uses fixed, obviously fake ones unless told otherwise. A kind without a key (A1111 without
/// Basic auth) is absent.
public struct FakeKeys: Sendable, Equatable {
    /// The keys by provider kind.
    public var byKind: [ProviderKind: String]

    public init(_ byKind: [ProviderKind: String]) { self.byKind = byKind }

    /// The key of `kind`, if it has one.
    public subscript(kind: ProviderKind) -> String? {
        get { byKind[kind] }
        set { byKind[kind] = newValue }
    }

    /// Fresh, distinctive keys for every registered fake.
    public static func random() -> FakeKeys {
        FakeKeys(Dictionary(uniqueKeysWithValues: FakeRegistration.all.compactMap { r in r.randomKey().map { (r.kind, $0) } }))
    }

    /// The fixed keys of the demo's simulation (not secrets: they only open the loopback fakes).
    public static let simulation = FakeKeys(
        Dictionary(uniqueKeysWithValues: FakeRegistration.all.compactMap { r in r.simulationKey.map { (r.kind, $0) } }))

    /// Every secret, in every form it may take on the wire (the whole value, base64 of it, the password half).
    public var secretForms: [String] {
        var out: [String] = []
        for r in FakeRegistration.all {
            guard let s = byKind[r.kind] else { continue }
            out.append(s)
            out.append(Data(s.utf8).base64EncodedString())
            if let colon = s.firstIndex(of: ":") { out.append(String(s[s.index(after: colon)...])) }
        }
        return out
    }
}

/// Every registered fake (``FakeRegistration/all``), started together.
public final class FakeProviders: Sendable {
    public let keys: FakeKeys
    /// The running fakes, in registration order.
    public let all: [any FakeProvider]

    private init(keys: FakeKeys, all: [any FakeProvider]) {
        self.keys = keys
        self.all = all
    }

    /// The running fake of type `F`.
    public func fake<F: FakeProvider>(_ type: F.Type = F.self) -> F {
        guard let f = all.lazy.compactMap({ $0 as? F }).first else { preconditionFailure("no \(F.self) is registered") }
        return f
    }

    /// The running fake of `kind`, if one is registered.
    public subscript(kind: ProviderKind) -> (any FakeProvider)? {
        all.first { $0.name == kind.rawValue }
    }

    /// The Gemini fake.
    public var gemini: GeminiFake { fake() }
    /// The Runware fake.
    public var runware: RunwareFake { fake() }
    /// The BFL fake.
    public var bfl: BFLFake { fake() }
    /// The AUTOMATIC1111 fake.
    public var a1111: A1111Fake { fake() }

    /// Starts every registered fake on ephemeral loopback ports.
    /// - Parameters:
    ///   - runwarePolls, bflPolls: polls answered `processing` / `Pending` before a generation finishes.
    public static func start(
        keys: FakeKeys = .random(), runwarePolls: Int = 2, bflPolls: Int = 2, geminiRetryDelay: String = "0.2s", echoKeysInErrors: Bool = false
    ) async throws -> FakeProviders {
        let options = FakeOptions(
            runwarePolls: runwarePolls, bflPolls: bflPolls, geminiRetryDelay: geminiRetryDelay, echoKeysInErrors: echoKeysInErrors)
        var started: [any FakeProvider] = []
        do {
            for r in FakeRegistration.all { started.append(try await r.start(keys[r.kind], options)) }
        } catch {
            for f in started { await f.shutdown() }
            throw error
        }
        return FakeProviders(keys: keys, all: started)
    }

    /// Base URLs by provider id.
    public var baseURLs: [String: String] {
        Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.baseURL) })
    }

    /// The daemon environment for the given provider ids: each key variable and `ATELIER_<ID>_BASE_URL`.
    /// `keyOverrides` (by provider id) replaces a key (e.g. a wrong one, to provoke an auth error).
    public func environment(
        for providers: Set<String> = Set(FakeRegistration.all.map(\.id)), keyOverrides: [String: String] = [:]
    ) -> [String: String] {
        var env: [String: String] = [:]
        for r in FakeRegistration.all where providers.contains(r.id) {
            if let k = keyOverrides[r.id] ?? keys[r.kind] { env[r.keyVariable] = k }
            if let f = self[r.kind] { env[r.baseURLVariable] = f.baseURL }
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
