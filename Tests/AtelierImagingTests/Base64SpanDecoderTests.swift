import AtelierImaging
import Foundation
import Testing

/// The strict streaming decoder behind the Gemini lift: Foundation's result for every valid text and every cut into
/// pieces, the exact offset of the first byte it refuses, and the text seen so far given back exactly.
@Suite("Base64SpanDecoder")
struct Base64SpanDecoderTests {
    /// Feeds `text` in pieces of `cut` bytes; returns the decoder and the absolute offset of a refusal.
    static func feed(_ text: [UInt8], cut: Int) -> (Base64SpanDecoder, refused: Int?) {
        var d = Base64SpanDecoder(expectedCharacters: 16)
        var i = 0
        while i < text.count {
            let n = min(cut, text.count - i)
            let r = text.withUnsafeBufferPointer { d.feed(UnsafeBufferPointer(rebasing: $0[i..<(i + n)])) }
            if let r { return (d, i + r) }
            i += n
        }
        return (d, nil)
    }

    @Test(
        "valid text decodes as Foundation does, for every length around a block and any cut", arguments: [0, 1, 2, 3, 23, 24, 25, 47, 48, 100, 3000])
    func matchesFoundation(length: Int) throws {
        var rng = Xoshiro256StarStar(seed: UInt64(length) &+ 77)
        let original = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let padded = Array(Data(original).base64EncodedString().utf8)
        let unpadded = Array(padded.prefix { $0 != UInt8(ascii: "=") })
        for text in [padded, unpadded] {
            for cut in [1, 2, 3, 5, 32, 33, 64, 1 << 20] {
                var (d, refused) = Self.feed(text, cut: cut)
                #expect(refused == nil, "length \(length), cut \(cut)")
                #expect(d.restoredText() == text, "length \(length), cut \(cut): text given back")
                let complete = d.finish()
                #expect(complete)
                #expect(Array(d.output.bytes) == original, "length \(length), cut \(cut)")
                #expect(d.characters == text.count)
            }
        }
    }

    @Test("the first byte outside the standard alphabet is refused where it stands, and the text before it is given back")
    func refusesAtTheOffendingByte() {
        var rng = Xoshiro256StarStar(seed: 5)
        let original = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let good = Array(Data(original).base64EncodedString().utf8)
        for offset in [0, 1, 2, 3, 4, 31, 32, 33, 63, 64, 4095, 6000] {
            for bad in Array("-_ \n\\\"*é".utf8) {
                var text = good
                text[offset] = bad
                for cut in [1, 7, 32, 1 << 20] {
                    let (d, refused) = Self.feed(text, cut: cut)
                    #expect(refused == offset, "byte \(bad) at \(offset), cut \(cut)")
                    #expect(d.restoredText() == Array(text[..<offset]), "byte \(bad) at \(offset), cut \(cut)")
                }
            }
        }
    }

    @Test("padding: only after two or three characters, only as much as the quantum needs, and nothing after it")
    func paddingRules() {
        func run(_ s: String) -> (refused: Int?, finished: Bool, bytes: [UInt8], restored: String) {
            var (d, refused) = Self.feed(Array(s.utf8), cut: 1)
            let restored = String(decoding: d.restoredText(), as: UTF8.self)
            let finished = refused == nil ? d.finish() : false
            return (refused, finished, Array(d.output.bytes), restored)
        }
        #expect(run("QQ==").finished && run("QQ==").bytes == [0x41])
        #expect(run("QUI=").finished && run("QUI=").bytes == [0x41, 0x42])
        #expect(run("QQ").finished && run("QQ").bytes == [0x41])
        #expect(run("QR").bytes == [0x41] && run("QR").restored == "QR", "a non-canonical tail is given back as it came")
        #expect(run("Q").finished == false, "a lone character is not base64")
        #expect(run("QQ=").finished == false, "incomplete padding")
        #expect(run("QUJD=").refused == 4, "padding after a whole quantum")
        #expect(run("Q=").refused == 1, "padding after one character")
        #expect(run("QQ===").refused == 4, "more padding than the quantum needs")
        #expect(run("QQ==QQ").refused == 4, "text after padding")
        #expect(run("QQ==").restored == "QQ==")
    }
}
