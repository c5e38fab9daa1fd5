import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

/// Multi-megabyte base64 images decoded in place (vector blocks plus the table for the rest), checked byte for byte
/// against Foundation's decoder and the original bytes.
@Suite("Large image decoding")
struct LargeImageDecodingTests {
    /// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed | 1
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            out[i] = UInt8(truncatingIfNeeded: x)
        }
        return out
    }

    /// Decodes `text` through the in-place path into a file and returns the file's bytes and the digest.
    static func decode(_ text: String, in dir: String, name: String = "img.bin") async throws(ProviderError) -> ([UInt8], ImageDigest) {
        let path = dir + "/" + name
        var body = Array(#"{"x":""#.utf8) + Array(text.utf8) + Array(#""}"#.utf8)
        let range = 6..<(6 + text.utf8.count)
        let digest = try await ImageFiles.writeBase64(OwnedBytes(taking: &body), range: range, to: path)
        return (fileBytes(path) ?? [], digest)
    }

    static func reference(_ text: String) -> [UInt8]? {
        var t = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        t = t.filter { !$0.isWhitespace }
        while t.utf8.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map { Array($0) }
    }

    @Test(
        "multi-megabyte payloads decode byte for byte: padded, unpadded, MIME line breaks, URL-safe",
        arguments: [3 << 20, (3 << 20) + 1, (3 << 20) + 2])
    func byteForByte(size: Int) async throws {
        let dir = Fixtures.scratch()
        let original = Self.bytes(size, seed: UInt64(size))
        let padded = Data(original).base64EncodedString()
        #expect(size % 3 == 0 || padded.hasSuffix("="))
        let unpadded = String(padded.drop { _ in false }.trimmingCharacters(in: CharacterSet(charactersIn: "=")))
        let lines = Data(original).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        #expect(lines.contains("\r\n"))
        let urlSafe = unpadded.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        for (i, text) in [padded, unpadded, lines, urlSafe, "data:image/png;base64," + padded].enumerated() {
            let (written, digest) = try await Self.decode(text, in: dir, name: "v\(i).bin")
            let ref = try #require(Self.reference(text.hasPrefix("data:") ? padded : text))
            #expect(ref == original, "the reference decoder disagrees with the original (variant \(i))")
            #expect(written.count == original.count, "variant \(i)")
            #expect(written == ref, "variant \(i) differs from the reference decoder")
            #expect(digest.bytes == original.count)
            #expect(digest.sha256 == ImageDigest(of: original).sha256, "variant \(i)")
        }
    }

    @Test("results are written exactly whether the file system takes direct I/O (disk) or not (tmpfs)")
    func directAndBufferedWrites() async throws {
        var dirs = [Fixtures.scratch()]
        if FileManager.default.fileExists(atPath: "/dev/shm") {
            let shm = "/dev/shm/atelier-test-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: shm, withIntermediateDirectories: true)
            dirs.append(shm)
        }
        defer { for d in dirs.dropFirst() { try? FileManager.default.removeItem(atPath: d) } }
        for size in [(64 << 10) - 1, 64 << 10, (1 << 20) + 4095, (1 << 20) + 4097] {
            let original = Self.bytes(size, seed: UInt64(size) &* 31)
            for dir in dirs {
                let (written, digest) = try await Self.decode(Data(original).base64EncodedString(), in: dir, name: "d\(size).bin")
                #expect(written == original, "size \(size) in \(dir)")
                #expect(digest.bytes == size)
            }
        }
    }

    @Test("an invalid character, stray padding or a truncated tail anywhere in megabytes is bad_upstream, and no file is left")
    func invalidInput() async throws {
        let dir = Fixtures.scratch()
        let good = Data(Self.bytes(2 << 20, seed: 7)).base64EncodedString()
        var cases: [String] = []
        for offset in [0, 31, 32, 1 << 20, good.utf8.count - 5] {
            for bad: Character in ["*", "\u{e9}", "=", "\""] {
                var chars = Array(good)
                chars[offset] = bad
                cases.append(String(chars))
            }
        }
        cases.append(String(good.dropLast(4)) + "A")  // one character of a quantum left over
        cases.append(good + "=")  // padding where no quantum is open
        cases.append(good + "AB=")  // incomplete padding
        for (i, text) in cases.enumerated() {
            let path = dir + "/bad\(i).bin"
            var body = Array(text.utf8)
            let range = 0..<body.count
            let e = await providerError { () async throws(ProviderError) in
                try await ImageFiles.writeBase64(OwnedBytes(taking: &body), range: range, to: path)
            }
            #expect(e?.code == .badUpstream, "case \(i): \(String(describing: e))")
            #expect(!FileManager.default.fileExists(atPath: path), "case \(i) left a file")
        }
    }

    @Test("a multi-megabyte Gemini answer: the codec locates it in the body, the provider decodes it streaming; the file is exact")
    func geminiLargeAnswer() async throws {
        let png = Fixtures.png + Self.bytes(3 << 20, seed: 11)
        let b64 = Data(png).base64EncodedString()
        let body =
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"},{"inlineData":{"mimeType":"image/png","data":"\#(b64)"}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1290}}"#
        let out = try GeminiCodec.decode(response(200, body))
        let range = try #require(out.base64Range)
        #expect(Array(Array(body.utf8)[range]) == Array(b64.utf8))
        #expect(out.note == "ok")
        #expect(out.mimeType == "image/png")

        let t = ScriptedTransport([reply(200, body)])
        let r = try Fixtures.request("gemini-3-pro-image")
        let images = try await GeminiProvider(
            configuration: GeminiProvider.defaults.with { $0.credentials = Credentials(GeminiTests.key) }, transport: t
        ).generate(r, context: .none)
        let img = try #require(images.first)
        #expect(fileBytes(img.path) == png)
        #expect(img.digest?.bytes == png.count)
        #expect(img.digest?.sha256 == ImageDigest(of: png).sha256)
        #expect(img.digest?.magicMIME == "image/png")
    }

    @Test("a large payload with JSON escapes or a look-alike key falls back to the full parser and still decodes")
    func geminiFallbacks() throws {
        let b64 = Data(Self.bytes(64 << 10, seed: 3)).base64EncodedString()
        let escaped = b64.replacingOccurrences(of: "/", with: "\\/")
        let body = #"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"\#(escaped)"}}]}}]}"#
        let out = try GeminiCodec.decode(response(200, body))
        #expect(out.base64Range == nil)
        #expect(out.base64 == b64)
        // "data" inside a text part is not an image: the full parse decides.
        let decoy = #"{"candidates":[{"content":{"parts":[{"text":"\"data\":\"\#(b64)\""},{"inlineData":{"mimeType":"image/png","data":"AQID"}}]}}]}"#
        let out2 = try GeminiCodec.decode(response(200, decoy))
        #expect(out2.base64 == "AQID")
        #expect(out2.base64Range == nil)
    }
}
