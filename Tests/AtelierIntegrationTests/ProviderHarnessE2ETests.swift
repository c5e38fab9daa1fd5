import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierProviders
import AtelierRPC
import AtelierTestSupport
import AtelierTesting
import Foundation
import Testing

// Shared support for the provider end-to-end tests: a real atelierd pointed at the loopback fakes
// (AtelierTesting), with keys from its environment, and the checks every such test ends with (no key in the
// daemon's log, in any error returned, or in the store's bytes).

/// A daemon pointed at the fakes, for one test.
struct FakeWorld {
    let dir: TempDir
    let fakes: FakeProviders
    let daemon: DaemonProcess
    let client: AtelierClient
    let environment: [String: String]
    let extraArguments: [String]
    /// Every job JSON and RPC error text a test saw (searched for secrets at the end).
    let seen: SeenTexts

    /// Starts fakes and a daemon, runs `body`, stops the daemon, checks that no key leaked, and cleans up.
    /// - Parameters:
    ///   - providers: which providers get a key and a base URL (the others stay unavailable).
    ///   - routing: the routing policy JSON (default: no rules, no built-in renderer).
    ///   - fastRetries: use the real provider files but with millisecond retry backoff (retry counts unchanged).
    ///   - keyOverrides: keys given to the daemon instead of the ones the fakes accept.
    static func run(
        _ label: String, providers: Set<String>, routing: String? = nil, fastRetries: Bool = true, runwarePolls: Int = 2, bflPolls: Int = 2,
        echoKeysInErrors: Bool = false, keyOverrides: [String: String] = [:], _ body: (FakeWorld) async throws -> Void
    ) async throws {
        let dir = TempDir(label)
        defer { dir.cleanup() }
        try await FakeProviders.with(runwarePolls: runwarePolls, bflPolls: bflPolls, echoKeysInErrors: echoKeysInErrors) { fakes in
            var extra: [String] = []
            if fastRetries { extra += ["--providers", try E2E.fastProviderFiles(in: dir)] }
            let env = fakes.environment(for: providers, keyOverrides: keyOverrides)
            let daemon = try await DaemonProcess.start(
                in: dir, routing: routing ?? E2E.routing(), extraArguments: extra, environment: env)
            let world = FakeWorld(
                dir: dir, fakes: fakes, daemon: daemon, client: try await daemon.client(), environment: env, extraArguments: extra, seen: SeenTexts())
            do {
                try await body(world)
            } catch {
                await world.stop()
                throw error
            }
            try await world.finish(secrets: fakes.keys.secretForms + keyOverrides.values.flatMap { E2E.forms(of: $0) })
        }
    }

    /// Submits a task; records the answer.
    func submit(_ task: JSONValue) async throws -> Job {
        do {
            let j = try await client.submit(task)
            seen.add(JSONWriter.string(j.json))
            return j
        } catch {
            seen.add(String(describing: error))
            throw error
        }
    }

    /// Waits for a job to finish (the timeout only bounds a broken test); records it.
    func wait(_ id: String, timeoutSeconds: Double = 120) async throws -> Job {
        let j = try await client.wait(id, timeoutSeconds: timeoutSeconds)
        seen.add(JSONWriter.string(j.json))
        return j
    }

    /// Submits and waits.
    func run(_ task: JSONValue) async throws -> Job { try await wait(try await submit(task).taskUUID) }

    /// An RPC call whose result or error text is recorded.
    func call(_ method: String, _ params: JSONValue? = nil) async throws -> JSONValue {
        do {
            let r = try await client.call(method, params: params)
            seen.add(JSONWriter.string(r))
            return r
        } catch {
            seen.add(String(describing: error))
            throw error
        }
    }

    /// Stops the daemon (SIGTERM), without checks.
    func stop() async {
        try? await client.close()
        if daemon.process.isRunning { await daemon.terminate() }
    }

    /// Stops the daemon and checks that no secret appears in its log, the answers seen, or the store.
    func finish(secrets: [String]) async throws {
        // The store's bytes while the daemon runs and after it stopped, the log, and every answer: no secret anywhere.
        let live = await E2E.stopAndExpectNoSecrets(daemon, client: client, secrets: secrets, texts: seen.all)
        #expect(!live.isEmpty, "the store files were read")
    }
}

/// Texts a test saw (thread-safe).
final class SeenTexts: @unchecked Sendable {
    private let lock = NSLock()
    private var texts: [String] = []
    func add(_ s: String) {
        lock.lock()
        texts.append(s)
        lock.unlock()
    }
    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return texts
    }
}

enum E2E {
    /// A routing policy: no built-in renderer; optional prefer list and refusal fallback.
    static func routing(prefer: [String] = [], afterRefusal: Bool = false, maxFallbacks: Int = 3) -> String {
        var rules: [JSONValue] = []
        if !prefer.isEmpty {
            rules.append(["name": "e2e-order", "prefer": .array(prefer.map(JSONValue.string))])
        }
        let doc: JSONValue = [
            "version": 1, "description": "provider end-to-end tests", "allowBuiltin": false, "objective": "cheapest",
            "fallbacks": ["max": .int(Int64(maxFallbacks)), "afterRefusal": .bool(afterRefusal)], "rules": .array(rules),
        ]
        return JSONWriter.string(doc)
    }

    /// Copies `providers/*.json` into `dir/providers`, changing only the retry backoff to milliseconds (the
    /// number of attempts stays as configured), and returns that directory.
    static func fastProviderFiles(in dir: TempDir) throws -> String {
        let src = PackagePaths.root + "/providers"
        let dst = dir.path + "/providers"
        try FileManager.default.createDirectory(atPath: dst, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: src) where name.hasSuffix(".json") {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: src + "/" + name)))
            guard case .object(var o) = try JSONParser.parse(bytes) else { continue }
            if case .object(var retry)? = o["retry"] {
                retry["baseDelaySeconds"] = .number(0.05)
                retry["maxDelaySeconds"] = .number(0.1)
                o["retry"] = .object(retry)
            }
            try Data(JSONWriter.bytes(.object(o))).write(to: URL(fileURLWithPath: dst + "/" + name))
        }
        return dst
    }

    /// Checks that no secret appears in `texts` (logs, answers) or in `stores` (store file bytes). The secrets are
    /// never passed to `#expect`, so a failure message cannot print them either.
    static func expectNoSecrets(_ secrets: [String], texts: [String], stores: [[UInt8]]) {
        for secret in secrets where secret.count >= 6 {
            let needle = Array(secret.utf8)
            let inText = texts.contains { $0.contains(secret) }
            let inStore = stores.contains { contains($0, needle) }
            #expect(!inText, "a key appears in the daemon's log or in an answer")
            #expect(!inStore, "a key appears in the SQLite store's bytes")
        }
    }

    /// The bytes of the store's files (database, WAL, shared memory) that exist.
    /// Reads the store while `daemon` runs (recent writes are in the WAL), closes `client`, stops the daemon (it must
    /// exit 0), reads the store again after it closed the database, and checks that no secret appears in any of it
    /// nor in `texts` (logs are added). Returns the bytes read while running.
    @discardableResult
    static func stopAndExpectNoSecrets(
        _ daemon: DaemonProcess, client: AtelierClient, secrets: [String], texts: [String]
    ) async -> [[UInt8]] {
        let live = storeBytes(dataDir: daemon.dataDir)
        try? await client.close()
        let status = await daemon.terminate()
        #expect(status == 0, "the daemon exits cleanly on SIGTERM")
        expectNoSecrets(secrets, texts: [daemon.log] + texts, stores: live + storeBytes(dataDir: daemon.dataDir))
        return live
    }

    static func storeBytes(dataDir: String) -> [[UInt8]] {
        ["atelier.sqlite", "atelier.sqlite-wal", "atelier.sqlite-shm"].compactMap { name in
            FileManager.default.contents(atPath: dataDir + "/" + name).map { [UInt8]($0) }
        }
    }

    /// Whether `haystack` contains `needle`.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// The forms of a secret worth searching for.
    static func forms(of s: String) -> [String] {
        var out = [s, Data(s.utf8).base64EncodedString()]
        if let c = s.firstIndex(of: ":") { out.append(String(s[s.index(after: c)...])) }
        return out
    }

    /// A task object.
    static func task(_ prompt: String, model: String = "auto", _ extra: JSONObject = [:]) -> JSONValue {
        var o: JSONObject = ["positivePrompt": .string(prompt), "model": .string(model)]
        for (k, v) in extra { o[k] = v }
        return .object(o)
    }

    /// A unique marker for prompts, so fakes and assertions can tell tests apart.
    static func marker() -> String { "e2e-" + UUID().uuidString.prefix(8).lowercased() }

    /// SHA-256 of bytes (hex).
    static func sha(_ bytes: [UInt8]) -> String { ResultFiles.sha256(bytes) }

    /// Whether the header `name` of `r` equals `value` (without ever printing either: keys).
    static func header(_ r: RecordedRequest, _ name: String, is value: String) -> Bool { r.header(name) == value }

    /// The RPC error of a failed call.
    static func rpcError(_ error: any Error) -> RPCError? {
        if let e = error as? RPCError { return e }
        return nil
    }

    /// Milliseconds between two instants.
    static func ms(_ a: ContinuousClock.Instant, _ b: ContinuousClock.Instant) -> Double {
        let d = b - a
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

/// The fakes on their own (no daemon): the scenario language and the recorder.
@Suite("provider fakes")
struct ProviderFakeSelfTests {
    @Test func promptTokensParseAndStrip() {
        let t = FakePromptToken.parse("a boat [fake:rate-limit-once] on [fake:gemini:blocked] water [fake:THOUGHTS] [fake:nonsense]")
        #expect(
            t == [
                FakePromptToken(provider: nil, scenario: .rateLimited, once: true),
                FakePromptToken(provider: "gemini", scenario: .blocked, once: false),
                FakePromptToken(provider: nil, scenario: .thoughts, once: false),
            ])
        #expect(FakePromptToken.strip("a boat [fake:503-then-ok] on  water [fake:reset]") == "a boat on water")
        let script = FakeScript(provider: "bfl", pollScenarios: [.blocked])
        #expect(script.decide(stage: .generate, prompt: "x [fake:503-once]").failure == .unavailable)
        #expect(script.decide(stage: .generate, prompt: "x [fake:503-once]").failure == nil, "-once fires once per prompt")
        #expect(script.decide(stage: .generate, prompt: "x [fake:blocked]").failure == nil, "BFL refuses while polling, not at submit")
        #expect(script.decide(stage: .poll, prompt: "x [fake:blocked]").failure == .blocked)
        #expect(script.decide(stage: .generate, prompt: "x [fake:gemini:503]").failure == nil, "tokens for another provider are ignored")
        script.enqueue(.reset)
        #expect(script.decide(stage: .generate, prompt: "plain").failure == .reset, "a queued scenario wins")
        #expect(script.decide(stage: .generate, prompt: "plain").failure == nil, "and is used once")
    }

    @Test func geminiFakeSpeaksTheWireFormat() async throws {
        let fake = try await GeminiFake.start(apiKey: "test-key-123456")
        defer { Task { await fake.shutdown() } }
        let transport = AsyncHTTPTransport()
        defer { Task { await transport.shutdown() } }
        func post(_ body: JSONValue, key: String = "test-key-123456") async throws -> HTTPResponse {
            try await transport.send(
                .postJSON(
                    fake.baseURL + "/v1beta/models/gemini-3-pro-image:generateContent", body, headers: [("x-goog-api-key", key)], timeoutSeconds: 30),
                maxBodyBytes: 64 << 20)
        }
        let ok = try await post([
            "contents": [["role": "user", "parts": [["text": "a small red boat [fake:thoughts]"]]]],
            "generationConfig": ["responseModalities": ["TEXT", "IMAGE"], "imageConfig": ["aspectRatio": "16:9", "imageSize": "1K"]],
        ])
        #expect(ok.status == 200)
        let doc = try JSONParser.parse(ok.body)
        let parts = try #require(doc["candidates"]?.arrayValue?.first?["content"]?["parts"]?.arrayValue)
        #expect(parts.filter { $0["thought"]?.boolValue == true }.count == 3, "thought text and two thought images")
        #expect(parts.last?["inlineData"]?["mimeType"] == "image/png")
        #expect(doc["usageMetadata"]?["candidatesTokensDetails"]?.arrayValue?.first?["tokenCount"] == 1120)
        let served = try #require(fake.served.first)
        #expect(served.width == 1376 && served.height == 768)
        #expect(Array(served.bytes.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])

        let lower = try await post([
            "contents": [["parts": [["text": "x"]]]], "generationConfig": ["imageConfig": ["aspectRatio": "1:1", "imageSize": "1k"]],
        ])
        #expect(lower.status == 400)
        #expect(try JSONParser.parse(lower.body)["error"]?["status"] == "INVALID_ARGUMENT")

        let badKey = try await post(["contents": [["parts": [["text": "x"]]]]], key: "wrong-key-654321")
        #expect(badKey.status == 400)
        #expect(try JSONParser.parse(badKey.body)["error"]?["details"]?.arrayValue?.first?["reason"] == "API_KEY_INVALID")

        let rate = try await post(["contents": [["parts": [["text": "y [fake:rate-limit]"]]]]])
        #expect(rate.status == 429)
        let details = try JSONParser.parse(rate.body)["error"]?["details"]?.arrayValue ?? []
        #expect(details.contains { $0["retryDelay"] == "0.2s" })
        #expect(fake.log.all.count == 4, "every request is recorded")
    }
}
