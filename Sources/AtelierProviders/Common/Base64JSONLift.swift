import AtelierImaging
import Crypto

#if canImport(Glibc)
    import Glibc
#endif

/// Takes a JSON answer as it streams in and decodes its long base64 strings on the way, while each piece is still in
/// the cache: the images land in ``AlignedBytes`` of their own (ready for a direct write) and the rest of the body —
/// a few hundred bytes, each lifted string replaced by a marker — is kept for the strict parser. No contiguous copy
/// of the body is ever made, the base64 text is never read twice, and each stretch of decoded bytes is hashed
/// (SHA-256) right after it is decoded, while it is still in the cache.
///
/// Which strings: the value of a member named by one of `keys` (Gemini's `"data"`, OpenAI's `"b64_json"`), or each
/// string of an array that is such a value (AUTOMATIC1111's `"images": [...]`). The streaming counterpart of
/// ``GeminiBodyScan``, with the same markers (`"\u0000atelier-span-<k>"`) and the same soundness: a string is lifted
/// only when it follows such a key and a colon (and, in an array, a bracket or a comma), holds nothing but the
/// standard base64 alphabet and its padding (so it is one complete JSON string token: no escape, no quote inside)
/// and is at least `minimumLength` characters long; a codec takes a lifted image only when its marker comes back as
/// the exact value where an image belongs (``span(marking:)``). Anything else stays text: a string the strict
/// decoder refuses part-way is given back exactly as it came (``Base64SpanDecoder/restoredText()``), so
/// ``restoredBody()`` is always the body that arrived. An answer with a non-2xx status is kept as it is.
///
/// One task at a time feeds it (``HTTPBodySink``).
public final class Base64JSONLift: HTTPBodySink, @unchecked Sendable {
    /// A lifted string: its decoded bytes, their SHA-256 and where its marker lies in ``residual``.
    public struct Span {
        /// The decoder that took it (its ``Base64SpanDecoder/output`` is the image).
        let decoder: Base64SpanDecoder
        /// The marker's bytes in ``residual``.
        let marker: Range<Int>
        /// The SHA-256 of ``image``'s bytes, computed while they were decoded.
        public let sha256: SHA256.Digest
        /// The decoded bytes.
        public var image: AlignedBytes { decoder.output }
    }

    /// Strings shorter than this stay in the residual as text.
    public let minimumLength: Int
    /// The body without its lifted strings, a marker in the place of each.
    public private(set) var residual: [UInt8] = []
    /// The lifted strings, in order of appearance.
    public private(set) var spans: [Span] = []

    private enum State {
        /// Between tokens.
        case outside
        /// Inside a string that is not lifted.
        case string
        /// After a backslash inside such a string.
        case escape
        /// After a string that is one of the keys: white space, then a colon makes it a key.
        case afterKey
        /// After `"<key>":`: white space, then a quote opens a lifted string, or a bracket an array of them.
        case afterColon
        /// Inside such an array, between its strings: white space and commas, a quote opens the next lifted string.
        case inArray
        /// Inside a lifted string.
        case span
    }

    private var state = State.outside
    /// The keys whose values are lifted, as bytes.
    private let keys: [[UInt8]]
    private let longestKey: Int
    /// The current (unlifted) string's bytes while it may still be a key; nil once it cannot be.
    private var keyCandidate: [UInt8]? = []
    /// Whether the current lifted string is an element of an array.
    private var inArray = false
    private var current: Base64SpanDecoder?
    /// The SHA-256 of the current string's decoded bytes so far, and how many of them it has taken.
    private var hasher = SHA256()
    private var hashed = 0
    private var passthrough = false
    /// Body bytes still to come, when the length was declared (sizes each image's memory).
    private var remaining: Int?
    private var ended = false

    /// A lift for one answer: the values of members named by `keys` (strings, or arrays of strings) at least
    /// `minimumLength` characters long are lifted; other strings stay text.
    public init(keys: [String], minimumLength: Int) {
        self.keys = keys.map { Array($0.utf8) }
        self.longestKey = self.keys.map(\.count).max() ?? 0
        self.minimumLength = max(minimumLength, 1)
        keyCandidate?.reserveCapacity(longestKey)
    }

    /// The lifted string whose marker is `value` (the string a parser read where the lifted one stood), or nil.
    public func span(marking value: String) -> Span? {
        guard let k = Self.spanIndex(value), k < spans.count else { return nil }
        return spans[k]
    }

    /// Decodes an answer whose body went through this lift with `decode` (the codec's decoder of a whole body),
    /// reading the residual — markers in place of the lifted strings — when that is sound: a 2xx answer, something
    /// lifted, and every marker among `images(output)` (the strings where the codec found images) naming a lifted
    /// string. Otherwise, or when decoding the residual throws, `response.body` is set to the body as it came and
    /// decoded whole, so answers and errors are exactly those of `decode` on the whole body.
    public func decode<Output>(
        _ response: inout HTTPResponse, images: (Output) -> [String], with decode: (HTTPResponse) throws(ProviderError) -> Output
    ) throws(ProviderError) -> Output {
        end()
        if (200..<300).contains(response.status), !spans.isEmpty {
            var head = response
            head.body = residual
            if let out = try? decode(head), images(out).allSatisfy({ Self.spanIndex($0) == nil || span(marking: $0) != nil }) {
                return out
            }
        }
        response.body = restoredBody()
        return try decode(response)
    }

    /// The start of every marker; the span's index follows.
    static let markerPrefix = "\u{0}atelier-span-"

    /// The span index a marker string names, or nil.
    static func spanIndex(_ value: String) -> Int? {
        guard value.hasPrefix(markerPrefix) else { return nil }
        return Int(value.dropFirst(markerPrefix.count))
    }

    public func begin(status: Int, contentLength: Int?) {
        passthrough = !(200..<300).contains(status)
        remaining = contentLength
        residual.reserveCapacity(passthrough ? min(contentLength ?? 4096, 1 << 20) : 4096)
    }

    public func consume(_ piece: UnsafeRawBufferPointer) throws(ProviderError) {
        guard let raw = piece.baseAddress, piece.count > 0 else { return }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let n = piece.count
        defer { remaining = remaining.map { max(0, $0 - n) } }
        if passthrough {
            residual.append(contentsOf: UnsafeBufferPointer(start: base, count: n))
            return
        }
        var i = 0
        while i < n {
            switch state {
            case .span:
                // The decoder takes base64 up to the first byte it refuses: the closing quote ends the string (so the
                // text is read once, with no separate search for the quote); anything else makes it text again.
                let refused = current?.feed(UnsafeBufferPointer(start: base + i, count: n - i))
                guard let refused else {
                    hashDecoded()
                    i = n
                    continue
                }
                let at = i + refused
                if base[at] == 0x22 {
                    hashDecoded()
                    closeSpan()
                    state = inArray ? .inArray : .outside
                    i = at + 1
                } else {
                    unlift()
                    state = .string
                    keyCandidate = nil
                    inArray = false
                    i = at
                }
            case .outside:
                let quote = Self.find(0x22, base, from: i, to: n)
                let stop = quote ?? n
                residual.append(contentsOf: UnsafeBufferPointer(start: base + i, count: stop - i))
                if quote != nil {
                    residual.append(0x22)
                    state = .string
                    keyCandidate = keyCandidate ?? []
                    keyCandidate?.removeAll(keepingCapacity: true)
                    i = stop + 1
                } else {
                    i = n
                }
            case .string:
                let c = base[i]
                residual.append(c)
                i += 1
                if c == 0x5C {  // backslash
                    state = .escape
                    keyCandidate = nil
                } else if c == 0x22 {
                    state = keyCandidate.map { k in keys.contains(k) } == true ? .afterKey : .outside
                } else if let count = keyCandidate?.count {
                    if count < longestKey { keyCandidate?.append(c) } else { keyCandidate = nil }
                }
            case .escape:
                residual.append(base[i])
                i += 1
                state = .string
            case .afterKey, .afterColon, .inArray:
                let c = base[i]
                if Self.isSpace(c) || (state == .inArray && c == 0x2C) {  // white space; a comma between elements
                    residual.append(c)
                    i += 1
                } else if state == .afterKey && c == 0x3A {  // colon
                    residual.append(c)
                    i += 1
                    state = .afterColon
                } else if state == .afterColon && c == 0x5B {  // an array of strings
                    residual.append(c)
                    i += 1
                    state = .inArray
                } else if (state == .afterColon || state == .inArray) && c == 0x22 {
                    residual.append(c)
                    i += 1
                    inArray = state == .inArray
                    // Room for about the rest of the body, decoded (most of it is this string, or this one and its
                    // siblings: memory not written is never touched).
                    let expected = remaining.map { max($0 - i, 0) } ?? 64 * 1024
                    current = Base64SpanDecoder(expectedCharacters: expected)
                    hasher = SHA256()
                    hashed = 0
                    state = .span
                } else {
                    // Anything else (the array's end, a number, an object) is ordinary JSON again.
                    inArray = false
                    state = .outside
                }
            }
        }
    }

    /// Ends the body: a string still open (a body cut short) goes back into the residual as text.
    public func end() {
        guard !ended else { return }
        ended = true
        if state == .span { unlift() }
    }

    /// The body as it arrived: the residual with each marker replaced by its string's text again.
    public func restoredBody() -> [UInt8] {
        end()
        guard !spans.isEmpty else { return residual }
        var out: [UInt8] = []
        out.reserveCapacity(residual.count + spans.reduce(0) { $0 + $1.decoder.characters })
        var from = 0
        for s in spans {
            out.append(contentsOf: residual[from..<s.marker.lowerBound])
            out.append(contentsOf: s.decoder.restoredText())
            from = s.marker.upperBound
        }
        out.append(contentsOf: residual[from...])
        return out
    }

    private func closeSpan() {
        guard var d = current else { return }
        current = nil
        let complete = d.finish()
        if complete && d.characters >= minimumLength {
            current = d
            hashDecoded()  // the last one or two bytes, from an incomplete last quantum
            current = nil
            let start = residual.count
            residual.append(contentsOf: "\\u0000atelier-span-\(spans.count)".utf8)
            spans.append(Span(decoder: d, marker: start..<residual.count, sha256: hasher.finalize()))
        } else {
            residual.append(contentsOf: d.restoredText())
        }
        residual.append(0x22)
    }

    /// Hashes the current string's bytes decoded since the last call (they were just written: still in the cache).
    private func hashDecoded() {
        guard let out = current?.output, out.count > hashed else { return }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(start: out.base + hashed, count: out.count - hashed))
        hashed = out.count
    }

    private func unlift() {
        if let d = current { residual.append(contentsOf: d.restoredText()) }
        current = nil
    }

    /// The index of the first `byte` in `base[from..<to]` (libc `memchr`, vectorised).
    @inline(__always)
    static func find(_ byte: UInt8, _ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to, let p = memchr(base + from, Int32(byte), to - from) else { return nil }
        return base.distance(to: p.assumingMemoryBound(to: UInt8.self))
    }

    /// JSON's white space.
    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
}
