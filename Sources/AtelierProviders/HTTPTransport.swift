import AtelierCore

/// An HTTP request as providers build it.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    /// Header names and values, in order. Secret-bearing headers are never logged by transports.
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Deadline for this request, in seconds.
    public var timeoutSeconds: Double

    public init(method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, timeoutSeconds: Double = 120) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
    }

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body && a.timeoutSeconds == b.timeoutSeconds
            && a.headers.map { "\($0.0): \($0.1)" } == b.headers.map { "\($0.0): \($0.1)" }
    }

    /// A JSON POST.
    public static func postJSON(_ url: String, _ body: JSONValue, headers: [(String, String)], timeoutSeconds: Double) -> HTTPRequest {
        HTTPRequest(
            method: "POST", url: url, headers: [("Content-Type", "application/json"), ("Accept", "application/json")] + headers,
            body: JSONWriter.bytes(body), timeoutSeconds: timeoutSeconds)
    }
}

/// An HTTP response with a capped body.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.0.lowercased() == n }?.1
    }

    public static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.map { "\($0.0): \($0.1)" } == b.headers.map { "\($0.0): \($0.1)" }
    }
}

/// The HTTP seam. The daemon's implementation uses one shared AsyncHTTPClient (pooling, deadlines, streaming);
/// tests substitute scripted transports or point the real one at loopback fakes.
public protocol HTTPTransport: Sendable {
    /// Sends a request and returns the response with its body read up to `maxBodyBytes`.
    /// Connection failures map to `unavailable`, deadline expiry to `timeout`, an over-long body to `bad_upstream`.
    func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse

    /// Streams a response body to a file at `path` (created or truncated), without holding it in memory.
    /// Returns the status and byte count. A non-2xx status writes nothing and returns the body excerpt in the error.
    func download(
        _ request: HTTPRequest, to path: String, maxBytes: Int
    ) async throws(ProviderError) -> (status: Int, bytes: Int, contentType: String?)

    /// Sends a request and hands the response body to `sink` piece by piece as it arrives (at most `maxBodyBytes`
    /// in all), instead of collecting it: a provider that decodes megabytes of base64 does so while the bytes are
    /// still in the cache, and no contiguous copy of the body is ever made. Returns the status and headers (the
    /// returned body is empty). Errors as ``send(_:maxBodyBytes:)``, plus whatever `sink` throws.
    ///
    /// The default collects the body with ``send(_:maxBodyBytes:)`` and hands it over in one piece (scripted and
    /// test transports).
    func send(_ request: HTTPRequest, maxBodyBytes: Int, streamingInto sink: some HTTPBodySink) async throws(ProviderError) -> HTTPResponse
}

/// Receives a response body as it arrives (``HTTPTransport/send(_:maxBodyBytes:streamingInto:)``). Used by one
/// task at a time: the transport calls ``begin(status:contentLength:)`` once, then ``consume(_:)`` for each piece,
/// in order, from the task that awaits the send.
public protocol HTTPBodySink: AnyObject, Sendable {
    /// The answer's status and its declared body length (nil when the server sent none), before any body byte.
    func begin(status: Int, contentLength: Int?)
    /// The next piece of the body. The memory is valid only during the call.
    func consume(_ piece: UnsafeRawBufferPointer) throws(ProviderError)
}

extension HTTPTransport {
    /// Collects the body and hands it to `sink` in one piece.
    public func send(_ request: HTTPRequest, maxBodyBytes: Int, streamingInto sink: some HTTPBodySink) async throws(ProviderError) -> HTTPResponse {
        var response = try await send(request, maxBodyBytes: maxBodyBytes)
        let body = response.body
        response.body = []
        sink.begin(status: response.status, contentLength: body.count)
        var failure: ProviderError?
        body.withUnsafeBytes { raw in
            do throws(ProviderError) { try sink.consume(raw) } catch { failure = error }
        }
        if let failure { throw failure }
        return response
    }
}
