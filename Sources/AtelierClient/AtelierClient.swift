import AtelierCore
import AtelierRPC
import NIOCore
import NIOPosix
import Synchronization

/// Errors of the client library.
public enum AtelierClientError: Error, CustomStringConvertible, Sendable {
    /// Nothing listens on the socket.
    case daemonNotRunning(socketPath: String)
    /// The connection closed before the answer arrived.
    case connectionClosed
    /// The daemon answered with a JSON-RPC error.
    case rpc(RPCError)
    /// The daemon answered with something this client does not understand.
    case badResponse(String)

    public var description: String {
        switch self {
        case .daemonNotRunning(let p): return "atelierd is not running on \(p) (start it with: atelierd --socket \(p))"
        case .connectionClosed: return "the connection to atelierd closed"
        case .rpc(let e): return e.description
        case .badResponse(let s): return "unexpected answer from atelierd: \(s)"
        }
    }
}

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
/// let client = try await AtelierClient.connect()
/// let job = try await client.submit(["positivePrompt": "a lighthouse at dusk", "width": 1024, "height": 1024])
/// let done = try await client.wait(job.taskUUID, timeoutSeconds: 60)
/// print(done.results.first?.path ?? "-")
/// try await client.close()
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
        } catch {
            throw AtelierClientError.daemonNotRunning(socketPath: socketPath)
        }
    }

    /// Closes the connection.
    public func close() async throws {
        try? await channel.close()
    }

    /// Calls `method` and returns its result, or throws ``AtelierClientError/rpc(_:)``.
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

    // MARK: Typed helpers

    /// `job.submit`: stores the task durably and returns the job.
    public func submit(_ task: ImageTask) async throws -> Job { try decodeJob(await call(RPCMethod.jobSubmit, params: task.json)) }

    /// `job.submit` with raw task JSON (fields as in docs/protocol.md).
    public func submit(_ task: JSONValue) async throws -> Job { try decodeJob(await call(RPCMethod.jobSubmit, params: task)) }

    /// `job.get`.
    public func job(_ taskUUID: String) async throws -> Job {
        try decodeJob(await call(RPCMethod.jobGet, params: ["taskUUID": .string(taskUUID)]))
    }

    /// `job.wait`: the job once finished, or as it is when the timeout passes.
    public func wait(_ taskUUID: String, timeoutSeconds: Double) async throws -> Job {
        try decodeJob(await call(RPCMethod.jobWait, params: ["taskUUID": .string(taskUUID), "timeoutSeconds": .number(timeoutSeconds)]))
    }

    /// `job.cancel`.
    public func cancel(_ taskUUID: String) async throws -> Job {
        try decodeJob(await call(RPCMethod.jobCancel, params: ["taskUUID": .string(taskUUID)]))
    }

    /// `job.list`.
    public func list(status: JobStatus? = nil, limit: Int = 50, cursor: String? = nil) async throws -> (jobs: [Job], nextCursor: String?) {
        var p: JSONObject = ["limit": .int(Int64(limit))]
        p.append("status", ifPresent: status.map { .string($0.rawValue) })
        p.append("cursor", ifPresent: cursor.map(JSONValue.string))
        let r = try await call(RPCMethod.jobList, params: .object(p))
        var jobs: [Job] = []
        for j in r["jobs"]?.arrayValue ?? [] { jobs.append(try decodeJob(j)) }
        return (jobs, r["nextCursor"]?.stringValue)
    }

    /// `job.subscribe`: events for one job (or all when nil) arrive on ``notifications``.
    @discardableResult
    public func subscribe(taskUUID: String? = nil) async throws -> JSONValue {
        try await call(RPCMethod.jobSubscribe, params: taskUUID.map { ["taskUUID": .string($0)] } ?? [:])
    }

    /// `route.explain`.
    public func explain(_ task: JSONValue) async throws -> JSONValue { try await call(RPCMethod.routeExplain, params: ["task": task]) }

    /// `models.list`.
    public func models() async throws -> [JSONValue] { try await call(RPCMethod.modelsList)["models"]?.arrayValue ?? [] }

    /// `daemon.health`.
    public func health() async throws -> JSONValue { try await call(RPCMethod.daemonHealth) }

    private func decodeJob(_ v: JSONValue) throws -> Job {
        do { return try Job(json: v) } catch { throw AtelierClientError.badResponse("job: \(error)") }
    }
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
            c.resume(throwing: AtelierClientError.rpc(RPCError(json: e) ?? RPCError(code: -32603, message: "malformed error", data: nil)))
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
