import AtelierCore
import AtelierImaging
import Foundation
import Testing

@testable import AtelierProviders

@Suite("Shared provider helpers")
struct CommonTests {
    @Test("base64 is decoded to the file in 64 KiB steps across chunk boundaries, with line breaks, URL-safe letters and no padding")
    func chunkedBase64() throws {
        var bytes: [UInt8] = []
        var x: UInt32 = 12345
        for _ in 0..<200_001 {
            x = x &* 1_103_515_245 &+ 12345
            bytes.append(UInt8(truncatingIfNeeded: x >> 16))
        }
        let b64 = Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
        #expect(b64.utf8.count > 3 * ImageFiles.chunkCharacters)
        let dir = Fixtures.scratch()
        let p1 = dir + "/a.bin"
        #expect(try ImageFiles.writeBase64(b64, to: p1) == bytes.count)
        #expect(fileBytes(p1) == bytes)

        let urlSafe =
            "data:image/png;base64,"
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let p2 = dir + "/b.bin"
        try ImageFiles.writeBase64(urlSafe, to: p2)
        #expect(fileBytes(p2) == bytes)
    }

    @Test("invalid base64 is bad_upstream and leaves no file; empty is no_image")
    func invalidBase64() throws {
        let dir = Fixtures.scratch()
        for bad in ["AAAA!AAA", "AAAAA", "AA==AA", "data:image/png;base64"] {
            let p = dir + "/x.png"
            let e = providerError { () throws(ProviderError) in try ImageFiles.writeBase64(bad, to: p) }
            #expect(e?.code == .badUpstream, "\(bad)")
            #expect(!FileManager.default.fileExists(atPath: p))
        }
        #expect(providerError { () throws(ProviderError) in try ImageFiles.writeBase64("", to: dir + "/y.png") }?.code == .noImage)
    }

    @Test("image files are named <attemptKey>-<index>.<ext> in the scratch directory")
    func naming() {
        #expect(ImageFiles.path(scratchDirectory: "/tmp/s", attemptKey: "k", index: 2, fileExtension: "webp") == "/tmp/s/k-2.webp")
        #expect(ImageFiles.path(scratchDirectory: "/tmp/s/", attemptKey: "k", index: 0, fileExtension: "png") == "/tmp/s/k-0.png")
        #expect(ImageFiles.fileExtension(forMIME: "image/jpeg") == "jpg")
    }

    @Test("the magic number alone names PNG, JPEG, WebP and GIF, truncated headers included; a digest keeps it beside the probe")
    func magicNumbers() {
        #expect(ImageProbe.magicFormat([0x89, 0x50, 0x4E, 0x47]) == .png)
        #expect(ImageProbe.magicFormat([0xFF, 0xD8, 0xFF]) == .jpeg)
        #expect(ImageProbe.magicFormat(Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBP".utf8)) == .webp)
        #expect(ImageProbe.magicFormat(Array("GIF89a".utf8)) == .gif)
        #expect(ImageProbe.magicFormat(Array("RIFF\u{0}\u{0}\u{0}\u{0}WAVE".utf8)) == nil)
        #expect(ImageProbe.magicFormat([0xFF, 0xD8]) == nil)
        #expect(ImageProbe.magicFormat([UInt8]()) == nil)
        // A truncated PNG: the probe cannot read its size, the magic number still names it.
        let truncated = Array(Fixtures.png.prefix(10))
        let digest = ImageDigest(of: truncated)
        #expect(digest.info == nil && digest.magicMIME == "image/png")
    }

    @Test("poll backoff: Runware 1 s ×1.5 up to 10 s; BFL 0.5 s ×1.5 up to 5 s")
    func backoff() {
        #expect((0..<8).map { PollBackoff.runware.delay(beforePoll: $0).inSeconds } == [1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10, 10])
        #expect((0..<6).map { PollBackoff.bfl.delay(beforePoll: $0).inSeconds } == [0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875])
        #expect(PollBackoff.bfl.delay(beforePoll: 50) == .seconds(5))
    }

    @Test("a cancelled job stops polling")
    func cancellation() async throws {
        let t = ScriptedTransport(
            [reply(200, #"{"id":"t","polling_url":"https://api.bfl.ai/v1/get_result?id=t"}"#)],
            fallback: response(200, #"{"status":"Pending"}"#))
        let ctx = GenerationContext(recordResumeHandle: { _ in }, isCancelled: { true })
        let p = BFLProvider(configuration: BFLProvider.defaults.testing(key: "k-123456"), transport: t)
        let e = await providerError { () async throws(ProviderError) in try await p.generate(try! Fixtures.request("flux-2-pro"), context: ctx) }
        #expect(e?.code == .cancelled)
    }
}
