import AtelierCore
import AtelierEngine
import AtelierImaging
import AtelierProviders
import AtelierTesting
import Foundation
import Synchronization
import Testing

/// The daemon's HTTP transport handing a response body to a sink as NIO receives it (the Gemini image path): many
/// pieces, nothing lost or reordered, the size cap enforced, a connection lost mid-body reported.
@Suite("Streamed response bodies")
struct StreamedBodyTests {
    /// Records what the transport hands over.
    final class Recorder: HTTPBodySink, @unchecked Sendable {
        private let state = Mutex<(status: Int?, length: Int?, pieces: Int, bytes: [UInt8])>((nil, nil, 0, []))
        func begin(status: Int, contentLength: Int?) {
            state.withLock {
                $0.status = status
                $0.length = contentLength
            }
        }
        func consume(_ piece: UnsafeRawBufferPointer) throws(ProviderError) {
            state.withLock {
                $0.pieces += 1
                $0.bytes.append(contentsOf: piece)
            }
        }
        var snapshot: (status: Int?, length: Int?, pieces: Int, bytes: [UInt8]) { state.withLock { $0 } }
    }

    /// The error `body` throws, nil when it throws none.
    static func caught(_ body: () async throws(ProviderError) -> Void) async -> ProviderError? {
        do {
            try await body()
            return nil
        } catch { return error }
    }

    static func body(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) } }

    static func serve(_ reply: FakeReply) async throws -> FakeHTTPServer {
        try await FakeHTTPServer.start(host: "stream", log: FakeRequestLog()) { _ in reply }
    }

    @Test("a 6 MB body arrives in many pieces, whole and in order, with its declared length")
    func piecesInOrder() async throws {
        let body = Self.body(6 << 20)
        let server = try await Self.serve(.bytes(200, body, contentType: "application/octet-stream"))
        let sink = Recorder()
        // Shut down on every path (a transport released unshut stops the test process), with a deadline a loaded
        // machine cannot reach: it bounds the whole exchange, body included.
        let head = try await AsyncHTTPTransport.with { transport in
            try await transport.send(
                HTTPRequest(method: "GET", url: server.baseURL + "/big", timeoutSeconds: 300), maxBodyBytes: 8 << 20, streamingInto: sink)
        }
        await server.shutdown()
        let seen = sink.snapshot
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(seen.status == 200 && seen.length == body.count)
        #expect(seen.pieces > 1, "a body this size comes in several reads")
        #expect(seen.bytes == body)
    }

    @Test("a body over the cap is bad_upstream, refused from its declared length before any byte")
    func capEnforced() async throws {
        let server = try await Self.serve(.bytes(200, Self.body(1 << 20), contentType: "application/octet-stream"))
        let transport = AsyncHTTPTransport()
        let sink = Recorder()
        let e = await Self.caught { () async throws(ProviderError) in
            _ = try await transport.send(
                HTTPRequest(method: "GET", url: server.baseURL + "/big", timeoutSeconds: 300), maxBodyBytes: 64 << 10, streamingInto: sink)
        }
        await transport.shutdown()
        await server.shutdown()
        #expect(e?.code == .badUpstream, "\(String(describing: e))")
        #expect(sink.snapshot.bytes.isEmpty)
    }

    @Test("a Gemini answer lost mid-body is unavailable, and the lift keeps what came as text")
    func resetMidBody() async throws {
        let b64 = Data(Self.body(3 << 20)).base64EncodedString()
        let answer = Array(#"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"\#(b64)"}}]}}]}"#.utf8)
        let server = try await Self.serve(
            .resetMidBody(status: 200, headers: [("Content-Type", "application/json")], body: answer, afterBytes: 1 << 20))
        let transport = AsyncHTTPTransport()
        let lift = Base64JSONLift(keys: ["data"], minimumLength: 1024)
        let e = await Self.caught { () async throws(ProviderError) in
            _ = try await transport.send(
                HTTPRequest(method: "POST", url: server.baseURL + "/v1beta/models/x:generateContent", timeoutSeconds: 300), maxBodyBytes: 64 << 20,
                streamingInto: lift)
        }
        await transport.shutdown()
        await server.shutdown()
        #expect(e?.code == .unavailable, "\(String(describing: e))")
        lift.end()
        #expect(lift.spans.isEmpty, "an unfinished string is never an image")
        let kept = lift.restoredBody()
        #expect(kept.count > 0 && Array(answer.prefix(kept.count)) == kept, "what arrived is kept exactly")
    }

    @Test(
        "an answer whose body stalls after the head ends in timeout at the request's deadline, streamed or collected",
        .timeLimit(.minutes(1)))
    func stalledBodyTimesOut() async throws {
        // AsyncHTTPClient's own deadline ends with the head; without the transport's deadline over the whole exchange
        // this call would wait for the read timeout (300 s), beyond the test's time limit.
        let answer =
            Array(#"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":""#.utf8)
            + Array(repeating: UInt8(ascii: "A"), count: 1 << 20)
        let server = try await Self.serve(
            .stallMidBody(status: 200, headers: [("Content-Type", "application/json")], body: answer, afterBytes: 64 << 10))
        let transport = AsyncHTTPTransport()
        let request = HTTPRequest(method: "POST", url: server.baseURL + "/v1beta/models/x:generateContent", timeoutSeconds: 1)
        let started = ContinuousClock.now
        let streamed = await Self.caught { () async throws(ProviderError) in
            _ = try await transport.send(request, maxBodyBytes: 64 << 20, streamingInto: Base64JSONLift(keys: ["data"], minimumLength: 1024))
        }
        let collected = await Self.caught { () async throws(ProviderError) in
            _ = try await transport.send(request, maxBodyBytes: 64 << 20)
        }
        let elapsed = ContinuousClock.now - started
        await transport.shutdown()
        await server.shutdown()
        #expect(streamed?.code == .timeout, "\(String(describing: streamed))")
        #expect(collected?.code == .timeout, "\(String(describing: collected))")
        #expect(streamed?.message.contains("timed out") == true)
        #expect(elapsed < .seconds(30), "both calls end near their 1 s deadline, not at the read timeout")
    }

    @Test("through the real transport the lifted image is the image, byte for byte")
    func liftOverTheWire() async throws {
        let image = Self.body((2 << 20) + 1)
        let b64 = Data(image).base64EncodedString()
        let answer = Array(
            #"{"candidates":[{"content":{"parts":[{"text":"here"},{"inlineData":{"mimeType":"image/png","data":"\#(b64)"}}]},"finishReason":"STOP"}],"modelVersion":"m"}"#
                .utf8)
        let server = try await Self.serve(.bytes(200, answer, contentType: "application/json"))
        let lift = Base64JSONLift(keys: ["data"], minimumLength: 1024)
        var head = try await AsyncHTTPTransport.with { transport in
            try await transport.send(
                HTTPRequest(method: "POST", url: server.baseURL + "/v1beta/models/x:generateContent", timeoutSeconds: 300),
                maxBodyBytes: 64 << 20, streamingInto: lift)
        }
        await server.shutdown()
        let (out, decoded) = try GeminiCodec.decode(&head, lifted: lift)
        let span = try #require(decoded, "the image was lifted")
        #expect(Array(span.image.bytes) == image)
        #expect(ImageDigest.hex(span.sha256) == ImageDigest(of: image).sha256, "hashed while it was decoded")
        #expect(out.note == "here" && out.modelVersion == "m" && out.mimeType == "image/png")
        #expect(lift.residual.count < 400, "only the JSON around the image is kept as text (\(lift.residual.count) bytes)")
    }
}
