import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

/// A transport that answers from a script and records every request, in order.
actor ScriptedTransport: HTTPTransport {
    enum Step: Sendable {
        /// The answer to the next `send`.
        case respond(HTTPResponse)
        /// The next `send` or `download` fails at the transport level.
        case fail(ProviderError)
        /// The answer to the next `download`: status, body written to the file (2xx only), content type.
        case file(status: Int, bytes: [UInt8], contentType: String?)
    }

    struct Call: Sendable {
        var kind: String  // "send" or "download"
        var request: HTTPRequest
        var path: String?
    }

    private var steps: [Step]
    private let fallback: HTTPResponse?
    private(set) var calls: [Call] = []

    /// - Parameter fallback: answered to every `send` once the script is used up (polling-until-deadline tests).
    init(_ steps: [Step], fallback: HTTPResponse? = nil) {
        self.steps = steps
        self.fallback = fallback
    }

    var requests: [HTTPRequest] { calls.map(\.request) }
    var sends: [HTTPRequest] { calls.filter { $0.kind == "send" }.map(\.request) }
    var downloads: [Call] { calls.filter { $0.kind == "download" } }
    var remainingSteps: Int { steps.count }

    func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse {
        calls.append(Call(kind: "send", request: request))
        guard !steps.isEmpty else {
            if let fallback { return fallback }
            throw ProviderError(.unavailable, "script exhausted at \(request.method) \(request.url)")
        }
        switch steps.removeFirst() {
        case .respond(let r): return r
        case .fail(let e): throw e
        case .file: throw ProviderError(.badUpstream, "script expected a download, got a send to \(request.url)")
        }
    }

    func download(
        _ request: HTTPRequest, to path: String, maxBytes: Int
    ) async throws(ProviderError) -> (status: Int, bytes: Int, contentType: String?) {
        calls.append(Call(kind: "download", request: request, path: path))
        guard !steps.isEmpty else { throw ProviderError(.unavailable, "script exhausted at download \(request.url)") }
        switch steps.removeFirst() {
        case .file(let status, let bytes, let ct):
            guard (200..<300).contains(status) else {
                throw ProviderError(.unavailable, "download failed with HTTP \(status)", httpStatus: status)
            }
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            return (status, bytes.count, ct)
        case .fail(let e): throw e
        case .respond: throw ProviderError(.badUpstream, "script expected a send, got a download of \(request.url)")
        }
    }
}

extension AtelierClock {
    /// Virtual polling time: a manual clock from the epoch on which each sleep moves time forward at once.
    static func virtual() -> AtelierClock { .manual(startingAt: Timestamp(milliseconds: 0), advancesOnSleep: true) }
    /// The sleeps asked of a virtual clock, in seconds.
    var sleeps: [Double] { recordedSleeps.map(\.inSeconds) }
    /// Seconds since a virtual clock started.
    var elapsedSeconds: Double { now.sinceEpoch.inSeconds }
}

/// Records resume handles, and how many requests the transport had seen when each was recorded.
final class HandleRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(String, Int)] = []
    let transport: ScriptedTransport?
    init(_ transport: ScriptedTransport? = nil) { self.transport = transport }
    var handles: [String] { lock.withLock { recorded.map(\.0) } }
    /// Requests already sent when each handle was recorded.
    var requestsBefore: [Int] { lock.withLock { recorded.map(\.1) } }
    var context: GenerationContext {
        GenerationContext(recordResumeHandle: { [self] h in
            let n = await transport?.requests.count ?? 0
            lock.withLock { recorded.append((h, n)) }
        })
    }
}

enum Fixtures {
    /// The repository's `providers/` directory, found from this file (symlinks resolved).
    static var providersDirectory: String {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("providers").path
    }

    static let catalog: Result<Catalog, ConfigError> = {
        do throws(ConfigError) { return .success(try CatalogLoader.load(directory: providersDirectory)) } catch { return .failure(error) }
    }()

    static func model(_ id: String) throws -> ModelCard {
        let c = try catalog.get()
        return try #require(c.model(id), "model \(id) is not in the catalog")
    }

    /// Some bytes that start like a PNG.
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array("fake image body".utf8)
    static let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array("fake jpeg".utf8)
    static var pngBase64: String { Data(png).base64EncodedString() }

    static let attemptKey = "5b0f1d3e-8c2a-4e55-9f3b-2a1c0d4e6f70"

    /// A fresh scratch directory.
    static func scratch() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-providers-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A request for `modelID`, resolved through the card's own checks.
    static func request(
        _ modelID: String, prompt: String = "a red fox", negative: String? = nil, size: SizeRequest = .automatic, seed: Int64? = 42,
        n: Int = 1, references: [LoadedReference] = [], format: OutputFormat = .png, attemptKey: String = Fixtures.attemptKey
    ) throws -> GenerationRequest {
        let card = try model(modelID)
        let task = ImageTask(
            positivePrompt: prompt, negativePrompt: negative, model: modelID, size: size, seed: seed, numberResults: n,
            referenceImages: references.map { _ in ReferenceImage.file(path: "/tmp/ref.png") }, outputFormat: format)
        let resolved: ResolvedSize
        switch card.check(task) {
        case .success(let s): resolved = s
        case .failure(let r): throw r
        }
        return GenerationRequest(
            task: task, model: card, size: resolved, seed: seed, references: references, scratchDirectory: scratch(), attemptKey: attemptKey)
    }

    static func reference(_ bytes: [UInt8] = [1, 2, 3, 4, 5], mime: String = "image/png") -> LoadedReference {
        LoadedReference(data: bytes, mimeType: mime, width: 64, height: 64, sha256: String(repeating: "0", count: 64))
    }
}

/// A response with a JSON (or any text) body.
func reply(_ status: Int, _ body: String, headers: [(String, String)] = [("Content-Type", "application/json")]) -> ScriptedTransport.Step {
    .respond(HTTPResponse(status: status, headers: headers, body: Array(body.utf8)))
}

func response(_ status: Int, _ body: String, headers: [(String, String)] = []) -> HTTPResponse {
    HTTPResponse(status: status, headers: headers, body: Array(body.utf8))
}

/// The request body parsed as JSON.
func bodyJSON(_ r: HTTPRequest) throws -> JSONValue {
    try JSONParser.parse(try #require(r.body))
}

func bodyString(_ r: HTTPRequest?) -> String {
    r?.body.map { String(decoding: $0, as: UTF8.self) } ?? ""
}

func header(_ r: HTTPRequest, _ name: String) -> String? {
    r.headers.first { $0.0.lowercased() == name.lowercased() }?.1
}

/// Runs `body` and returns the ProviderError it throws (nil if it did not throw).
func providerError<T>(_ body: () async throws(ProviderError) -> T) async -> ProviderError? {
    do {
        _ = try await body()
        return nil
    } catch { return error }
}

func providerError<T>(_ body: () throws(ProviderError) -> T) -> ProviderError? {
    do {
        _ = try body()
        return nil
    } catch { return error }
}

func fileBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

extension ProviderClientConfiguration {
    /// A client's defaults with a test key, a total deadline (when given) and a virtual clock (``AtelierClock/virtual()``).
    func testing(key: String, total: Double? = nil, clock: AtelierClock = .virtual()) -> ProviderClientConfiguration {
        with {
            $0.credentials = Credentials(key)
            if let total { $0.totalTimeoutSeconds = total }
            $0.polling.clock = clock
        }
    }
}
