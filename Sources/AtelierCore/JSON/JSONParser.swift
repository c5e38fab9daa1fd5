/// Why a byte sequence is not a JSON document.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset where parsing stopped.
    public var offset: Int
    /// What was wrong there.
    public var reason: String

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }

    /// An error at byte `offset`.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }
}

/// A strict RFC 8259 parser: UTF-8 only (invalid sequences are errors), no trailing commas, no comments,
/// a bounded nesting depth, and exact 64-bit integers.
///
/// It works on raw bytes so the socket server can parse a frame without first copying it into a `String`.
public struct JSONParser {
    /// The deepest nesting accepted. Deeper documents are refused rather than risking the stack.
    public static let maximumDepth = 128

    /// Objects with fewer members than this find duplicate names by scanning; larger ones keep a set of names.
    static let linearDuplicateScanLimit = 16

    /// Parses one complete document; trailing non-whitespace is an error.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws(JSONParseError) -> JSONValue
    where Bytes.Element == UInt8 {
        let result: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buf in
            do throws(JSONParseError) { return .success(try parse(UnsafeRawBufferPointer(buf))) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        let copy = Array(bytes)
        let r: Result<JSONValue, JSONParseError> = copy.withUnsafeBytes { raw in
            do throws(JSONParseError) { return .success(try parse(raw)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Parses one complete document from a string.
    public static func parse(_ string: String) throws(JSONParseError) -> JSONValue {
        var s = string
        let r: Result<JSONValue, JSONParseError> = s.withUTF8 { buf in
            do throws(JSONParseError) { return .success(try parse(UnsafeRawBufferPointer(buf))) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Parses one complete document from raw memory.
    public static func parse(_ raw: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        var p = Cursor(raw)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        if p.i != p.end { throw p.error("unexpected data after the document") }
        return v
    }

    struct Cursor {
        let base: UnsafeRawBufferPointer
        var i: Int
        let end: Int

        init(_ base: UnsafeRawBufferPointer) {
            self.base = base
            self.i = 0
            self.end = base.count
        }

        @inline(__always) func peek() -> UInt8? { i < end ? base[i] : nil }

        func error(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

        @inline(__always) mutating func skipWhitespace() {
            while i < end {
                let c = base[i]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
            }
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            guard let c = peek() else { throw error("unexpected end of input") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("unexpected character '\(Unicode.Scalar(c))'")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONParseError) {
            let n = word.utf8CodeUnitCount
            guard end - i >= n else { throw error("unexpected end of input") }
            let w = word.utf8Start
            for k in 0..<n where base[i + k] != w[k] { throw error("invalid literal") }
            i += n
        }

        mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
            if depth > JSONParser.maximumDepth { throw error("nesting deeper than \(JSONParser.maximumDepth)") }
            i += 1
            var obj = JSONObject()
            // Duplicate members are found with a linear scan while the object is small (the common case, and the
            // fastest there) and with a set of the names once it grows, so that parsing stays linear in the size
            // of the frame: a per-member scan of a 100,000-member object is 5×10⁹ comparisons.
            var names = Set<String>()
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                i += 1
                return .object(obj)
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try string()
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipWhitespace()
                let v = try value(depth: depth)
                if obj.count < JSONParser.linearDuplicateScanLimit {
                    if obj[key] != nil { throw error("duplicate member '\(key)'") }
                } else {
                    if names.isEmpty {
                        names.reserveCapacity(obj.count * 2)
                        for m in obj.members { names.insert(m.key) }
                    }
                    if !names.insert(key).inserted { throw error("duplicate member '\(key)'") }
                }
                // The name is known to be new: `append(_:ifPresent:)` skips the debug-build uniqueness scan of
                // `append(_:_:)`, which would make debug builds quadratic again.
                obj.append(key, ifPresent: v)
                skipWhitespace()
                guard let c = peek() else { throw error("unexpected end of input") }
                i += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { return .object(obj) }
                i -= 1
                throw error("expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
            if depth > JSONParser.maximumDepth { throw error("nesting deeper than \(JSONParser.maximumDepth)") }
            i += 1
            var arr: [JSONValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                i += 1
                return .array(arr)
            }
            while true {
                skipWhitespace()
                arr.append(try value(depth: depth))
                skipWhitespace()
                guard let c = peek() else { throw error("unexpected end of input") }
                i += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { return .array(arr) }
                i -= 1
                throw error("expected ',' or ']'")
            }
        }

        mutating func number() throws(JSONParseError) -> JSONValue {
            let start = i
            var isInteger = true
            if peek() == UInt8(ascii: "-") { i += 1 }
            guard let first = peek(), first >= 0x30, first <= 0x39 else { throw error("invalid number") }
            if first == 0x30 {
                i += 1
                if let c = peek(), c >= 0x30, c <= 0x39 { throw error("leading zeros are not allowed") }
            } else {
                while let c = peek(), c >= 0x30, c <= 0x39 { i += 1 }
            }
            if peek() == UInt8(ascii: ".") {
                isInteger = false
                i += 1
                guard let c = peek(), c >= 0x30, c <= 0x39 else { throw error("invalid number") }
                while let c = peek(), c >= 0x30, c <= 0x39 { i += 1 }
            }
            if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                isInteger = false
                i += 1
                if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { i += 1 }
                guard let c = peek(), c >= 0x30, c <= 0x39 else { throw error("invalid number") }
                while let c = peek(), c >= 0x30, c <= 0x39 { i += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: base[start..<i]), as: UTF8.self)
            if isInteger, let v = Int64(text) { return .int(v) }
            guard let d = Double(text), d.isFinite else {
                i = start
                throw error("number out of range")
            }
            return .double(d)
        }

        mutating func string() throws(JSONParseError) -> String {
            i += 1  // opening quote
            let start = i
            // Fast path: no escapes.
            while i < end {
                let c = base[i]
                if c == UInt8(ascii: "\"") {
                    let slice = UnsafeRawBufferPointer(rebasing: base[start..<i])
                    i += 1
                    return try validated(slice, at: start)
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw error("control character in string") }
                i += 1
            }
            // Slow path with escapes.
            var out: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: base[start..<i]))
            while i < end {
                let c = base[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    let r: Result<String, JSONParseError> = out.withUnsafeBytes { raw in
                        do throws(JSONParseError) { return .success(try validated(raw, at: start)) } catch { return .failure(error) }
                    }
                    return try r.get()
                }
                if c < 0x20 { throw error("control character in string") }
                if c != UInt8(ascii: "\\") {
                    out.append(c)
                    i += 1
                    continue
                }
                i += 1
                guard let e = peek() else { break }
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800, scalar < 0xDC00 {
                        guard end - i >= 6, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard low >= 0xDC00, low < 0xE000 else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00, scalar < 0xE000 {
                        throw error("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    i -= 1
                    throw error("invalid escape")
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            guard end - i >= 4 else { throw error("invalid \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = base[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        func validated(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(JSONParseError) -> String {
            // ASCII fast path.
            var ascii = true
            for b in bytes where b >= 0x80 {
                ascii = false
                break
            }
            if ascii { return String(decoding: bytes, as: UTF8.self) }
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw JSONParseError(offset: offset, reason: "invalid UTF-8 in string")
            }
            return s
        }
    }
}
