#if canImport(Glibc)
    import Glibc
#endif

/// Finds the long base64 strings of a `generateContent` body (`"data": "<megabytes>"`) without parsing or copying
/// them, so that the image is decoded where it lies in the response buffer.
///
/// Soundness: each located value runs from an opening quote to the next quote with no backslash in between, so it is
/// one complete JSON string token whatever surrounds it. The rest of the body, with each such value replaced by an
/// escaped marker (`"\u0000atelier-span-<k>"`), goes through the strict parser; a marker that was not at a token
/// boundary makes that document invalid (`\u0000` outside a string), and the codec accepts a span only when its
/// marker comes back as the exact value of an image part. Anything else falls back to parsing the whole body.
enum GeminiBodyScan {
    /// The body minus its long `data` strings, and their ranges in the body (in order of appearance).
    struct Lifted {
        var residual: [UInt8]
        var spans: [Range<Int>]
    }

    /// Locates every `"data"` member whose string value is at least `minimumLength` bytes and free of escapes.
    /// Nil when there is none (the caller then parses the body as usual).
    static func lift(_ body: [UInt8], minimumLength: Int) -> Lifted? {
        body.withUnsafeBufferPointer { buffer -> Lifted? in
            guard let base = buffer.baseAddress else { return nil }
            let n = buffer.count
            let key: [UInt8] = Array("\"data\"".utf8)
            var spans: [Range<Int>] = []
            var i = 0
            while i < n {
                guard let q = Base64JSONLift.find(0x22, base, from: i, to: n) else { break }
                // Is this the key "data" followed by a colon and an opening quote?
                var j = q + key.count
                guard j <= n, memcmp(base + q, key, key.count) == 0 else {
                    i = q + 1
                    continue
                }
                while j < n, Base64JSONLift.isSpace(base[j]) { j += 1 }
                guard j < n, base[j] == 0x3A else {
                    i = q + 1
                    continue
                }
                j += 1
                while j < n, Base64JSONLift.isSpace(base[j]) { j += 1 }
                guard j < n, base[j] == 0x22 else {
                    i = q + 1
                    continue
                }
                let start = j + 1
                guard let end = Base64JSONLift.find(0x22, base, from: start, to: n) else { break }
                if end - start >= minimumLength, Base64JSONLift.find(0x5C, base, from: start, to: end) == nil {
                    spans.append(start..<end)
                }
                i = end + 1
            }
            if spans.isEmpty { return nil }
            var residual: [UInt8] = []
            residual.reserveCapacity(n - spans.reduce(0) { $0 + $1.count } + spans.count * 32)
            var from = 0
            for (k, span) in spans.enumerated() {
                residual.append(contentsOf: UnsafeBufferPointer(start: base + from, count: span.lowerBound - from))
                residual.append(contentsOf: "\\u0000atelier-span-\(k)".utf8)
                from = span.upperBound
            }
            residual.append(contentsOf: UnsafeBufferPointer(start: base + from, count: n - from))
            return Lifted(residual: residual, spans: spans)
        }
    }
}
