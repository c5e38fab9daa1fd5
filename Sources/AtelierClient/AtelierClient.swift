import AtelierCore
import AtelierRPC
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A server notification (`job.event`).
public struct AtelierNotification: Sendable {
    /// The method, e.g. `job.event`.
    public var method: String
    /// The params.
    public var params: JSONValue
}

/// A connection to `atelierd`. Requests may be issued concurrently from many tasks; answers are matched by id.
///
/// ```swift
/// let done = try await AtelierClient.withConnection { client in
///     let job = try await client.submit(["positivePrompt": "a lighthouse at dusk", "width": 1024, "height": 1024])
///     return try await client.wait(job.taskUUID, timeoutSeconds: 60)
/// }
/// print(done.results.first?.path ?? "-")
/// ```
public final class AtelierClient: Sendable {
    private let channel: any Channel
    private let state: ClientState

    private init(channel: any Channel, state: ClientState) {
        self.channel = channel
        self.state = state
    }

    /// Connects to the daemon at `socketPath` (default: ``DefaultPaths/socket(environment:)``).
    public static func connect(socketPath: String = DefaultPaths.socket(), maxFrameBytes: Int = 256 << 20) async throws -> AtelierClient {
        let state = ClientState()
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxFrameBytes: maxFrameBytes)))
                    try channel.pipeline.syncOperations.addHandler(ClientHandler(state: state))
                }
            }
        do {
            let channel = try await bootstrap.connect(unixDomainSocketPath: socketPath).get()
            return AtelierClient(channel: channel, state: state)
        } catch let e as IOError where e.errnoCode == ENOENT || e.errnoCode == ECONNREFUSED {
            throw AtelierClientError.daemonNotRunning(socketPath: socketPath)
        } catch {
            throw AtelierClientError.connectFailed(socketPath: socketPath, reason: "\(error)")
        }
    }

    /// Connects, runs `body` with the client, and closes the connection when `body` returns or throws.
    public static func withConnection<T>(
        socketPath: String = DefaultPaths.socket(), maxFrameBytes: Int = 256 << 20, _ body: (AtelierClient) async throws -> T
    ) async throws -> T {
        let client = try await connect(socketPath: socketPath, maxFrameBytes: maxFrameBytes)
        do {
            let result = try await body(client)
            try? await client.close()
            return result
        } catch {
            try? await client.close()
            throw error
        }
    }

    /// Closes the connection.
    public func close() async throws {
        try? await channel.close()
    }

    /// Calls `method` (an ``RPCMethod`` name) and returns its result. Throws the daemon's ``RPCError`` when it
    /// answers with an error, an ``AtelierClientError`` when the connection fails.
    public func call(_ method: String, params: JSONValue? = nil) async throws -> JSONValue {
        let id = state.nextID()
        var out: [UInt8] = []
        JSONWriter.write(RPCRequest(id: .int(id), method: method, params: params).json, into: &out)
        out.append(0x0A)
        let channel = self.channel
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<JSONValue, any Error>) in
                guard state.register(id, cont) else {
                    cont.resume(throwing: AtelierClientError.connectionClosed)
                    return
                }
                channel.writeAndFlush(ByteBuffer(bytes: out)).whenFailure { _ in
                    self.state.fail(id, AtelierClientError.connectionClosed)
                }
            }
        } onCancel: {
            self.state.fail(id, CancellationError())
        }
    }

    /// Sends raw bytes (tests and benchmarks; the caller frames them).
    public func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Server notifications on this connection (after `job.subscribe`). One consumer at a time.
    public var notifications: AsyncStream<AtelierNotification> { state.notifications }
}

/// Pending calls and the notification stream of one connection.
final class ClientState: Sendable {
    private struct S {
        var next: Int64 = 1
        var pending: [Int64: CheckedContinuation<JSONValue, any Error>] = [:]
        var closed = false
    }
    private let s = Mutex(S())
    let notifications: AsyncStream<AtelierNotification>
    private let notify: AsyncStream<AtelierNotification>.Continuation

    init() {
        (notifications, notify) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    func nextID() -> Int64 {
        s.withLock { st in
            defer { st.next += 1 }
            return st.next
        }
    }

    func register(_ id: Int64, _ c: CheckedContinuation<JSONValue, any Error>) -> Bool {
        s.withLock { st in
            if st.closed { return false }
            st.pending[id] = c
            return true
        }
    }

    func fail(_ id: Int64, _ e: any Error) {
        s.withLock { $0.pending.removeValue(forKey: id) }?.resume(throwing: e)
    }

    func deliver(_ message: JSONValue) {
        if case .string(let method)? = message["method"] {
            notify.yield(AtelierNotification(method: method, params: message["params"] ?? .null))
            return
        }
        guard let id = message["id"]?.intValue else { return }
        guard let c = s.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        if let e = message["error"] {
            c.resume(throwing: RPCError(json: e) ?? RPCError(code: RPCErrorCode.internalError, message: "malformed error", data: nil))
        } else {
            c.resume(returning: message["result"] ?? .null)
        }
    }

    func closeAll() {
        let pending = s.withLock { st in
            st.closed = true
            defer { st.pending = [:] }
            return st.pending
        }
        for (_, c) in pending { c.resume(throwing: AtelierClientError.connectionClosed) }
        notify.finish()
    }
}

final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let state: ClientState

    init(state: ClientState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let v = try? frame.withUnsafeReadableBytes({ raw throws(JSONParseError) in try JSONParser.parse(raw) }) else { return }
        if case .array(let items) = v {
            for i in items { state.deliver(i) }
        } else {
            state.deliver(v)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
