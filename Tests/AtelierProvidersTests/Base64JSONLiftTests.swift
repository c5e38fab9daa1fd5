import AtelierCore
import AtelierImaging
import Foundation
import Testing

@testable import AtelierProviders

/// The streaming lift of JSON answers (Gemini's `generateContent`, OpenAI's Images API, AUTOMATIC1111's arrays):
/// whatever the pieces the network delivers, the long base64 strings under the lift's keys come out decoded, the rest
/// of the body comes out as it was, and the codec reads the same answer as from the whole body.
@Suite("Base64 JSON streaming lift")
struct Base64JSONLiftTests {
    typealias Bytes = LargeImageDecodingTests

    /// Feeds `body` to a new lift in pieces cut by `cuts` (sizes, repeated) and ends it.
    static func lift(
        _ body: [UInt8], cuts: [Int], status: Int = 200, declareLength: Bool = true, keys: [String] = ["data"]
    ) throws -> Base64JSONLift {
        let lift = Base64JSONLift(keys: keys, minimumLength: GeminiCodec.liftThreshold)
        lift.begin(status: status, contentLength: declareLength ? body.count : nil)
        var failure: ProviderError?
        body.withUnsafeBytes { all in
            var i = 0
            var k = 0
            while i < all.count {
                let n = min(max(cuts[k % cuts.count], 1), all.count - i)
                do throws(ProviderError) { try lift.consume(UnsafeRawBufferPointer(rebasing: all[i..<(i + n)])) } catch {
                    failure = error
                    return
                }
                i += n
                k += 1
            }
        }
        if let failure { throw failure }
        lift.end()
        return lift
    }

    /// Piece sizes: single bytes, odd sizes around the vector block (32) and NIO's reads (64 KiB), and the whole.
    static let cutPatterns: [[Int]] = [[1], [7, 3, 31], [32], [33, 5], [4096], [65536], [1 << 30], [1, 65535, 2, 100_000]]

    static func answer(_ parts: String) -> String {
        #"{"candidates":[{"content":{"role":"model","parts":[\#(parts)]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1290},"modelVersion":"gemini-3-pro-image"}"#
    }

    static let image = Fixtures.png + Bytes.bytes((200 << 10) + 7, seed: 5)
    static let b64 = Data(image).base64EncodedString()

    /// Bodies the lift must get right, with the image each one carries when it is lifted (nil: it must stay text).
    static var bodies: [(name: String, body: String)] {
        let thought = Data(Fixtures.png + Bytes.bytes(5000, seed: 9)).base64EncodedString()
        // The image's length is not a multiple of three, so its text ends in an incomplete quantum whose last
        // character carries bits that decoding drops ("…QR" and "…QQ" decode alike): flip the lowest of them.
        let unpadded = String(b64.prefix { $0 != "=" })
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let last = alphabet.firstIndex(of: unpadded.last!)!
        let odd = unpadded.dropLast() + String(alphabet[last ^ 1])
        // Whole quanta and one more character: not base64.
        let lone = unpadded.prefix(unpadded.count / 4 * 4) + "A"
        return [
            ("plain", answer(#"{"text":"ok"},{"inlineData":{"mimeType":"image/png","data":"\#(b64)"}}"#)),
            ("spaces around the colon", answer(#"{"inlineData":{"data" :  "\#(b64)", "mimeType":"image/png"}}"#)),
            (
                "thought images first",
                answer(
                    #"{"inlineData":{"mimeType":"image/png","data":"\#(thought)"},"thought":true},{"inlineData":{"mimeType":"image/png","data":"\#(b64)"}}"#
                )
            ),
            ("escaped slashes", answer(#"{"inlineData":{"mimeType":"image/png","data":"\#(b64.replacingOccurrences(of: "/", with: "\\/"))"}}"#)),
            (
                "url-safe alphabet",
                answer(
                    #"{"inlineData":{"mimeType":"image/png","data":"\#(b64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))"}}"#
                )
            ),
            (
                "line breaks",
                answer(
                    #"{"inlineData":{"mimeType":"image/png","data":"\#(Data(image).base64EncodedString(options: .lineLength76Characters).replacingOccurrences(of: "\r\n", with: "\\r\\n"))"}}"#
                )
            ),
            ("unpadded with a non-canonical tail", answer(#"{"inlineData":{"mimeType":"image/png","data":"\#(odd)"}}"#)),
            ("a short image stays text", answer(#"{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}"#)),
            ("a look-alike key in a text part", answer(#"{"text":"\"data\":\"\#(b64)\""},{"inlineData":{"mimeType":"image/png","data":"AQID"}}"#)),
            ("data as a value, not a key", #"{"x":["data","\#(b64)"],"candidates":[]}"#),
            ("garbage in the middle", answer(#"{"inlineData":{"mimeType":"image/png","data":"\#(b64.prefix(70_001))*\#(b64.dropFirst(70_001))"}}"#)),
            ("a lone character at the end", answer(#"{"inlineData":{"mimeType":"image/png","data":"\#(lone)"}}"#)),
            ("misplaced padding", answer(#"{"inlineData":{"mimeType":"image/png","data":"\#(b64.prefix(4000))=\#(b64.dropFirst(4000))"}}"#)),
            ("cut short inside the image", String(answer(#"{"inlineData":{"mimeType":"image/png","data":"\#(b64)"}}"#).prefix(b64.count / 2))),
            ("no image", answer(#"{"text":"no"}"#)),
        ]
    }

    @Test("any cut of the body into pieces gives the body back exactly and lifts only what is sound to lift")
    func restoresExactly() throws {
        try #require(Self.image.count % 3 != 0, "the non-canonical case needs an incomplete last quantum")
        for (name, body) in Self.bodies {
            let bytes = Array(body.utf8)
            for cuts in Self.cutPatterns {
                let lift = try Self.lift(bytes, cuts: cuts)
                #expect(lift.restoredBody() == bytes, "\(name), pieces \(cuts): the body is not given back as it came")
                let lifted = lift.spans.map { Array($0.image.bytes) }
                for (span, bytes) in zip(lift.spans, lifted) {
                    #expect(ImageDigest.hex(span.sha256) == ImageDigest(of: bytes).sha256, "\(name), pieces \(cuts): the hash taken while decoding")
                }
                switch name {
                case "plain", "spaces around the colon", "unpadded with a non-canonical tail":
                    #expect(lifted == [Self.image], "\(name), pieces \(cuts)")
                case "thought images first":
                    #expect(lifted.count == 2 && lifted.last == Self.image, "\(name), pieces \(cuts)")
                default:
                    #expect(lifted.isEmpty, "\(name), pieces \(cuts): lifted \(lifted.map(\.count))")
                }
            }
        }
    }

    @Test("other keys and arrays: OpenAI's b64_json strings and AUTOMATIC1111's images array, at any cut")
    func keysAndArrays() throws {
        let second = Fixtures.png + Bytes.bytes((90 << 10) + 1, seed: 11)
        let b64b = Data(second).base64EncodedString()
        let escaped = b64b.replacingOccurrences(of: "/", with: "\\/")
        let cases: [(name: String, keys: [String], body: String, lifted: [[UInt8]])] = [
            (
                "openai, two images", ["b64_json"],
                #"{"created":1,"data":[{"b64_json":"\#(Self.b64)","revised_prompt":"a \"b64_json\": x"},{"b64_json" : "\#(b64b)"}],"usage":{"input_tokens":5}}"#,
                [Self.image, second]
            ),
            (
                "a1111 array", ["images"], #"{"images":["\#(Self.b64)", "\#(b64b)"],"parameters":{"seed":7},"info":"{\"seed\": 7}"}"#,
                [Self.image, second]
            ),
            (
                "array: an escaped element stays text, the rest of the body is exact", ["images"],
                #"{"images":["\#(escaped)","\#(Self.b64)"],"info":"x"}"#, []
            ),
            ("array of numbers", ["images"], #"{"images":[1,2,"\#(Self.b64)"]}"#, []),
            ("a data: URL prefix stays text", ["images"], #"{"images":["data:image/png;base64,\#(Self.b64)"]}"#, []),
            ("a longer key is another key", ["b64_json"], #"{"data":[{"b64_json_2":"\#(Self.b64)"},{"b64_jso":"\#(b64b)"}]}"#, []),
            ("two keys at once", ["data", "b64_json"], #"{"data":"\#(b64b)","x":{"b64_json":"\#(Self.b64)"}}"#, [second, Self.image]),
        ]
        for c in cases {
            let bytes = Array(c.body.utf8)
            for cuts in Self.cutPatterns {
                let lift = try Self.lift(bytes, cuts: cuts, keys: c.keys)
                #expect(lift.restoredBody() == bytes, "\(c.name), pieces \(cuts): the body is not given back as it came")
                #expect(lift.spans.map { Array($0.image.bytes) } == c.lifted, "\(c.name), pieces \(cuts)")
                for span in lift.spans {
                    #expect(ImageDigest.hex(span.sha256) == ImageDigest(of: Array(span.image.bytes)).sha256, "\(c.name), pieces \(cuts)")
                }
            }
        }
    }

    @Test("OpenAI's codec reads the same answer from the lift as from the whole body; a marker naming nothing falls back")
    func openAICodecAgrees() throws {
        let bodies = [
            #"{"created":1,"data":[{"b64_json":"\#(Self.b64)"}],"output_format":"png","usage":{"input_tokens":5,"output_tokens":9}}"#,
            #"{"created":1,"data":[{"b64_json":"AQID"},{"url":"http://127.0.0.1:1/x.png"}]}"#,
            // A string that reads as a marker but names no lifted string: the whole body is decoded again as text.
            #"{"created":1,"data":[{"b64_json":"\#(Self.b64)"},{"b64_json":"\u0000atelier-span-7"}]}"#,
        ]
        for (n, body) in bodies.enumerated() {
            let bytes = Array(body.utf8)
            let whole = try OpenAICodec.decode(HTTPResponse(status: 200, headers: [], body: bytes))
            let lift = try Self.lift(bytes, cuts: [4096], keys: ["b64_json"])
            var response = HTTPResponse(status: 200, headers: [], body: [])
            let streamed = try OpenAICodec.decode(&response, lifted: lift)
            #expect(streamed.usage == whole.usage && streamed.mimeType == whole.mimeType, "body \(n)")
            #expect(streamed.images.count == whole.images.count, "body \(n)")
            for (s, w) in zip(streamed.images, whole.images) {
                switch (s, w) {
                case (.base64(let marker), .base64(let text)):
                    if let span = lift.span(marking: marker) {
                        #expect(Array(span.image.bytes) == Array(Data(base64Encoded: text)!), "body \(n)")
                        #expect(n == 0, "only the first body is lifted")
                    } else {
                        #expect(marker == text, "body \(n): an image not lifted stays its text")
                    }
                default:
                    #expect(s == w, "body \(n)")
                }
            }
            #expect(n != 2 || response.body == bytes, "a doubtful marker sets the whole body back")
        }
        // An error answer is kept whole and mapped as before.
        let error = Array(#"{"error":{"message":"bad size","type":"invalid_request_error","code":"invalid_size"}}"#.utf8)
        let lift = try Self.lift(error, cuts: [7], status: 400, keys: ["b64_json"])
        var response = HTTPResponse(status: 400, headers: [], body: [])
        #expect(throws: ProviderError.self) { try OpenAICodec.decode(&response, lifted: lift) }
        #expect(response.body == error)
    }

    @Test("the codec reads the same answer from the lift as from the whole body, and the image bytes are the same")
    func codecAgrees() throws {
        for (name, body) in Self.bodies {
            let bytes = Array(body.utf8)
            let whole: Result<GeminiCodec.Output, ProviderError> = Result { () throws(ProviderError) in
                try GeminiCodec.decode(response(200, body))
            }
            for cuts in [[1 << 30], [7, 3, 31], [65536]] {
                var head = HTTPResponse(status: 200, headers: [], body: [])
                let lift = try Self.lift(bytes, cuts: cuts)
                let streamed = Result { () throws(ProviderError) in try GeminiCodec.decode(&head, lifted: lift) }
                switch (whole, streamed) {
                case (.success(let w), .success(let (s, image))):
                    #expect(s.mimeType == w.mimeType && s.note == w.note && s.usage == w.usage, "\(name)")
                    #expect(s.modelVersion == w.modelVersion && s.finishReason == w.finishReason, "\(name)")
                    // The image: decoded by the lift, or left where the whole-body path would find it.
                    let expected = Self.decodedPayload(w, body: bytes)
                    let got = image.map { Array($0.image.bytes) } ?? Self.decodedPayload(s, body: head.body)
                    if let image {
                        let whole = ImageDigest(of: Array(image.image.bytes)).sha256
                        #expect(ImageDigest.hex(image.sha256) == whole, "\(name): the hash taken while decoding")
                    }
                    #expect(got == expected, "\(name), pieces \(cuts)")
                case (.failure(let w), .failure(let s)):
                    #expect(w.code == s.code && w.message == s.message, "\(name)")
                default:
                    Issue.record("\(name), pieces \(cuts): whole \(whole), streamed \(streamed)")
                }
            }
        }
    }

    /// The bytes the tolerant decoder makes of an output's payload (in the body or parsed), nil when invalid.
    static func decodedPayload(_ out: GeminiCodec.Output, body: [UInt8]) -> [UInt8]? {
        let text = out.base64Range.map { String(decoding: body[$0], as: UTF8.self) } ?? out.base64
        var copy = Array(text.utf8)
        return try? copy.withUnsafeMutableBufferPointer { (b) throws(Base64DecodingError) -> [UInt8] in
            let n = try Base64TolerantDecoder.decodeInPlace(b)
            return Array(b[0..<n])
        }
    }

    @Test("an answer that is not 2xx is kept whole, whatever it holds")
    func errorsPassThrough() throws {
        let body = Array(#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT","data":"\#(Self.b64)"}}"#.utf8)
        let lift = try Self.lift(body, cuts: [4096], status: 400)
        #expect(lift.spans.isEmpty)
        #expect(lift.residual == body)
        var head = HTTPResponse(status: 400, headers: [], body: [])
        let e = Result { () throws(ProviderError) in try GeminiCodec.decode(&head, lifted: lift) }
        guard case .failure(let error) = e else {
            Issue.record("a 400 decoded as an image")
            return
        }
        #expect(error.code == .invalidRequest, "\(error)")
        #expect(head.body == body, "the error is read from the body as it came")
    }

    @Test("without a declared length the image memory grows as it needs and the bytes are the same")
    func undeclaredLength() throws {
        let body = Array(Self.answer(#"{"inlineData":{"mimeType":"image/png","data":"\#(Self.b64)"}}"#).utf8)
        let lift = try Self.lift(body, cuts: [16384], declareLength: false)
        #expect(lift.spans.count == 1)
        #expect(lift.spans.first.map { Array($0.image.bytes) } == Self.image)
        let memory = try #require(lift.spans.first?.image)
        #expect(Int(bitPattern: memory.base) % AlignedBytes.block == 0, "the image memory is 4 KiB aligned")
        #expect(memory.capacity % AlignedBytes.block == 0 && memory.capacity >= memory.count)
    }
}
