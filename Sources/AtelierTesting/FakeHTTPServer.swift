import AtelierCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP request as a fake server received it.
public struct RecordedRequest: Sendable, CustomStringConvertible {
    /// Which server of the fake received it (`api`, `images`, `regional`, `delivery`).
    public let host: String
    /// `127.0.0.1:<port>` of that server.
    public let authority: String
    /// `GET`, `POST`, …
    public let method: String
    /// The request target as sent: path plus query.
    public let uri: String
    /// Header names and values, in order.
    public let headers: [(String, String)]
    /// The request body.
    public let body: [UInt8]
    /// When the last byte of the request arrived (monotonic).
    public let receivedAt: ContinuousClock.Instant
    /// Position in the fake's log (0-based, across all of its servers).
    public let sequence: Int

    /// The path without the query.
    public var path: String {
        guard let q = uri.firstIndex(of: "?") else { return uri }
        return String(uri[..<q])
    }

    /// The query items, percent-decoded (the last value wins).
    public var query: [String: String] {
        guard let q = uri.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            let k = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let v = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[1])) : ""
            out[k] = v
        }
        return out
    }

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.0.lowercased() == n }?.1
    }

    /// Every header named `name` (case-insensitive).
    public func headers(named name: String) -> [String] {
        let n = name.lowercased()
        return headers.filter { $0.0.lowercased() == n }.map(\.1)
    }

    /// The body parsed as JSON, or nil.
    public var json: JSONValue? { body.isEmpty ? nil : try? JSONParser.parse(body) }

    /// The body as UTF-8 text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The whole request as text (headers and body), e.g. to search it for a secret.
    public var rawText: String {
        ([method + " " + uri] + headers.map { "\($0.0): \($0.1)" } + ["", bodyText]).joined(separator: "\n")
    }

    public var description: String { "#\(sequence) \(host) \(method) \(uri) (\(body.count) bytes)" }
}

/// What a fake server answers.
public enum FakeReply: Sendable {
    /// A complete response (a `Content-Length` is added).
    case respond(status: Int, headers: [(String, String)], body: [UInt8])
    /// Sends the head (announcing the whole body's length) and the first `afterBytes` of the body, then resets the
    /// connection (SO_LINGER 0, so the peer sees RST) — a connection lost in the middle of the body.
    case resetMidBody(status: Int, headers: [(String, String)], body: [UInt8], afterBytes: Int)
    /// Sends the head (announcing the whole body's length) and the first `afterBytes` of the body, then nothing more,
    /// keeping the connection open until the client closes it — an upstream whose answer stalls.
    case stallMidBody(status: Int, headers: [(String, String)], body: [UInt8], afterBytes: Int)

    /// A JSON answer.
    public static func json(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) -> FakeReply {
        .respond(status: status, headers: [("Content-Type", "application/json; charset=UTF-8")] + headers, body: JSONWriter.bytes(value))
    }

    /// A raw answer with a content type.
    public static func bytes(_ status: Int, _ body: [UInt8], contentType: String, headers: [(String, String)] = []) -> FakeReply {
        .respond(status: status, headers: [("Content-Type", contentType)] + headers, body: body)
    }

    /// A JSON body cut off in the middle (HTTP 200): what a broken proxy or a crashed upstream sends.
    public static func malformedJSON(_ prefix: String) -> FakeReply {
        .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(prefix.utf8))
    }
}

/// Every request a fake received, in order, across its servers; tests can wait for a request to arrive.
public final class FakeRequestLog: Sendable {
    private struct Waiter {
        let id: Int
        let count: Int
        let predicate: @Sendable (RecordedRequest) -> Bool
        let continuation: CheckedContinuation<[RecordedRequest], any Error>
    }

    private struct State {
        var requests: [RecordedRequest] = []
        var waiters: [Waiter] = []
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Everything recorded so far.
    public var all: [RecordedRequest] { state.withLock { $0.requests } }

    /// The requests matching `predicate`.
    public func filter(_ predicate: (RecordedRequest) -> Bool) -> [RecordedRequest] { all.filter(predicate) }

    /// Forgets everything recorded.
    public func clear() { state.withLock { $0.requests.removeAll() } }

    /// Records a request (called by the servers); returns it with its sequence number.
    func record(host: String, authority: String, method: String, uri: String, headers: [(String, String)], body: [UInt8]) -> RecordedRequest {
        let (req, ready): (RecordedRequest, [(CheckedContinuation<[RecordedRequest], any Error>, [RecordedRequest])]) = state.withLock { s in
            let r = RecordedRequest(
                host: host, authority: authority, method: method, uri: uri, headers: headers, body: body, receivedAt: .now, sequence: s.requests.count
            )
            s.requests.append(r)
            var ready: [(CheckedContinuation<[RecordedRequest], any Error>, [RecordedRequest])] = []
            s.waiters.removeAll { w in
                let matching = s.requests.filter(w.predicate)
                if matching.count >= w.count {
                    ready.append((w.continuation, matching))
                    return true
                }
                return false
            }
            return (r, ready)
        }
        for (c, m) in ready { c.resume(returning: m) }
        return req
    }

    /// Waits until at least `count` recorded requests match `predicate` (counting those already recorded) and
    /// returns all matching ones. The timeout only bounds a broken test: it throws ``FakeTimeout``.
    @discardableResult
    public func wait(
        for count: Int = 1, timeoutSeconds: Double = 60, _ what: String = "request", where predicate: @escaping @Sendable (RecordedRequest) -> Bool
    ) async throws -> [RecordedRequest] {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        return try await withThrowingTaskGroup(of: [RecordedRequest]?.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<[RecordedRequest], any Error>) in
                    let done: [RecordedRequest]? = self.state.withLock { s in
                        let matching = s.requests.filter(predicate)
                        if matching.count >= count { return matching }
                        s.waiters.append(Waiter(id: id, count: count, predicate: predicate, continuation: c))
                        return nil
                    }
                    if let done { c.resume(returning: done) }
                }
            }
            group.addTask {
                try? await AtelierClock.live.sleep(for: .seconds(timeoutSeconds))
                return nil
            }
            let first = try await group.next() ?? nil
            if let first {
                group.cancelAll()
                return first
            }
            // Timed out: fail the waiter so the first child task finishes too.
            let waiter = self.state.withLock { s -> Waiter? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            let err = FakeTimeout(what: what, count: count, seen: self.all.filter(predicate).count)
            waiter?.continuation.resume(throwing: err)
            group.cancelAll()
            throw err
        }
    }
}

/// A wait for requests that did not arrive in time (the test is broken or the daemon never called).
public struct FakeTimeout: Error, CustomStringConvertible {
    public var what: String
    public var count: Int
    public var seen: Int
    public var description: String { "timed out waiting for \(count) \(what) (saw \(seen))" }
}

/// A minimal HTTP/1.1 server on `127.0.0.1`, an ephemeral port, for fakes. Each request is recorded in a
/// ``FakeRequestLog`` and answered by an async handler. Keep-alive and pipelining are handled by NIO.
public final class FakeHTTPServer: Sendable {
    public typealias Handler = @Sendable (RecordedRequest) async -> FakeReply

    /// The label recorded with each request.
    public let host: String
    /// The bound port.
    public let port: Int
    /// The bound address: `127.0.0.1` unless another loopback address was asked for (e.g. `::1`).
    public let address: String
    /// `http://127.0.0.1:<port>` (`http://[::1]:<port>` for IPv6)
    public var baseURL: String { "http://\(authority)" }
    /// `127.0.0.1:<port>` (`[::1]:<port>` for IPv6)
    public var authority: String { (address.contains(":") ? "[\(address)]" : address) + ":\(port)" }

    private let channel: any Channel
    private let closed = Mutex(false)

    private init(host: String, port: Int, address: String, channel: any Channel) {
        self.host = host
        self.port = port
        self.address = address
        self.channel = channel
    }

    /// Binds `<address>:0` (a loopback address: `127.0.0.1` by default, or `::1`) and serves until ``shutdown()`` (or
    /// until the value is released).
    public static func start(
        host: String, address: String = "127.0.0.1", log: FakeRequestLog, handler: @escaping Handler
    ) async throws -> FakeHTTPServer {
        let authorityBox = Mutex("")
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        FakeHTTPHandler(host: host, authority: authorityBox.withLock { $0 }, log: log, handler: handler))
                }
            }
        let channel = try await bootstrap.bind(host: address, port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw FakeServerError.noPort
        }
        authorityBox.withLock { $0 = (address.contains(":") ? "[\(address)]" : address) + ":\(port)" }
        return FakeHTTPServer(host: host, port: port, address: address, channel: channel)
    }

    /// Stops listening. Connections in progress finish on their own.
    public func shutdown() async {
        let wasClosed = closed.withLock { c -> Bool in
            defer { c = true }
            return c
        }
        if !wasClosed { try? await channel.close() }
    }

    deinit {
        if !closed.withLock({ $0 }) { channel.close(promise: nil) }
    }

    enum FakeServerError: Error { case noPort }
}

/// Collects one request, records it, and writes the handler's reply.
final class FakeHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let host: String
    let authority: String
    let log: FakeRequestLog
    let handler: FakeHTTPServer.Handler
    var head: HTTPRequestHead?
    var body: [UInt8] = []

    init(host: String, authority: String, log: FakeRequestLog, handler: @escaping FakeHTTPServer.Handler) {
        self.host = host
        self.authority = authority
        self.log = log
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buf):
            if let bytes = buf.readBytes(length: buf.readableBytes) { body.append(contentsOf: bytes) }
        case .end:
            guard let h = head else { return }
            head = nil
            let request = log.record(
                host: host, authority: authority, method: h.method.rawValue, uri: h.uri, headers: h.headers.map { ($0.name, $0.value) }, body: body)
            body = []
            let keepAlive = h.isKeepAlive
            let version = h.version
            let handler = self.handler
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            Task {
                let reply = await handler(request)
                loop.execute {
                    let (me, ctx) = bound.value
                    me.write(reply, version: version, keepAlive: keepAlive, context: ctx)
                }
            }
        }
    }

    private func write(_ reply: FakeReply, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        switch reply {
        case .respond(let status, let headers, let body):
            var hs = HTTPHeaders(headers)
            hs.replaceOrAdd(name: "Content-Length", value: String(body.count))
            if !keepAlive { hs.replaceOrAdd(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .init(statusCode: status), headers: hs))), promise: nil)
            if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
            let done = context.writeAndFlushPromise()
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
            if !keepAlive {
                let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
                done.futureResult.whenComplete { _ in ctx.value.close(promise: nil) }
            }
        case .stallMidBody(let status, let headers, let body, let afterBytes):
            var hs = HTTPHeaders(headers)
            hs.replaceOrAdd(name: "Content-Length", value: String(body.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .init(statusCode: status), headers: hs))), promise: nil)
            let part = Array(body.prefix(max(0, min(afterBytes, body.count - 1))))
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: part)))), promise: nil)
        case .resetMidBody(let status, let headers, let body, let afterBytes):
            var hs = HTTPHeaders(headers)
            hs.replaceOrAdd(name: "Content-Length", value: String(body.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .init(statusCode: status), headers: hs))), promise: nil)
            let part = Array(body.prefix(max(0, min(afterBytes, body.count - 1))))
            let flushed = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: part)))), promise: flushed)
            let channel = context.channel
            flushed.futureResult.whenComplete { _ in
                // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                if let provider = channel as? any SocketOptionProvider {
                    provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                } else {
                    channel.close(promise: nil)
                }
            }
        }
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise(of: Void.self) }
}

/// A weak reference a server's handler holds to its fake, so a fake nobody holds any more is released (and its
/// servers closed) even when a test forgot to shut it down.
final class WeakRef<T: AnyObject & Sendable>: Sendable {
    private struct Box: @unchecked Sendable { weak var value: T? }
    private let box = Mutex(Box())
    init() {}
    var value: T? {
        get { box.withLock { $0.value } }
        set { box.withLock { $0.value = newValue } }
    }
    func set(_ v: T) { box.withLock { $0.value = v } }
}
