import AtelierCore
import AtelierEngine
import AtelierRPC

/// A connection as the dispatcher sees it: where to push notifications, and its subscriptions.
public protocol RPCConnection: AnyObject, Sendable {
    /// Sends one server notification line.
    func push(_ bytes: [UInt8])
    /// Remembers a subscription so it is cancelled when the connection closes.
    func addSubscription(_ token: EventBus.Token, taskUUID: String?)
    /// Removes subscriptions for `taskUUID` (nil: all); returns how many were removed.
    func removeSubscriptions(taskUUID: String?) -> [EventBus.Token]
}

/// Maps JSON-RPC methods onto the engine. Every params object is parsed strictly (unknown members are errors)
/// so that mistakes surface as `-32602` with `data.field`.
public struct RPCDispatcher: Sendable {
    /// The engine behind the socket.
    public let engine: Engine

    public init(engine: Engine) { self.engine = engine }

    /// Handles one request; returns the result, or the error to send.
    public func handle(_ request: RPCRequest, connection: (any RPCConnection)?) async -> Result<JSONValue, RPCError> {
        do throws(AtelierError) {
            return .success(try await dispatch(request, connection: connection))
        } catch {
            return .failure(RPCError(error))
        }
    }

    private func params(_ request: RPCRequest) throws(AtelierError) -> JSONValue {
        switch request.params {
        case nil: return .object([:])
        case .object?: return request.params!
        case .array(let a)? where a.isEmpty: return .object([:])
        default: throw AtelierError(.invalidType, "params must be an object for \(request.method)", field: "")
        }
    }

    private func taskUUID(_ r: inout FieldReader) throws(AtelierError) -> String {
        let raw = try r.requiredString("taskUUID")
        guard let id = UUIDv4.canonical(raw) else {
            throw AtelierError(.invalidUUID, "taskUUID must be a UUID v4, not '\(raw.prefix(64))'", field: r.pointer("taskUUID"))
        }
        return id
    }

    func dispatch(_ request: RPCRequest, connection: (any RPCConnection)?) async throws(AtelierError) -> JSONValue {
        switch request.method {
        case RPCMethod.jobSubmit:
            let task = try ImageTask(json: try params(request))
            return try await engine.submit(task).json

        case RPCMethod.jobGet:
            var r = try FieldReader(try params(request))
            let id = try taskUUID(&r)
            try r.finish()
            return try await engine.job(id).json

        case RPCMethod.jobWait:
            var r = try FieldReader(try params(request))
            let id = try taskUUID(&r)
            let timeout = try r.double("timeoutSeconds") ?? 30
            guard timeout >= 0, timeout <= 3600 else {
                throw AtelierError(.invalidValue, "timeoutSeconds must be between 0 and 3600", field: r.pointer("timeoutSeconds"))
            }
            try r.finish()
            return try await engine.wait(id, timeoutSeconds: timeout).json

        case RPCMethod.jobCancel:
            var r = try FieldReader(try params(request))
            let id = try taskUUID(&r)
            try r.finish()
            return try await engine.cancel(id).json

        case RPCMethod.jobList:
            var r = try FieldReader(try params(request))
            var status: JobStatus?
            if let s = try r.string("status") {
                guard let st = JobStatus(rawValue: s) else {
                    throw AtelierError(
                        .invalidValue, "unknown status '\(s.prefix(32))'", field: r.pointer("status"),
                        details: ["allowed": .array(JobStatus.allCases.map { .string($0.rawValue) })])
                }
                status = st
            }
            let limit = Int(try r.int("limit", in: 1...1000) ?? 50)
            var cursor: Int64?
            if let c = try r.string("cursor") {
                guard let v = Int64(c), v > 0 else { throw AtelierError(.invalidValue, "cursor is not one this daemon issued", field: r.pointer("cursor")) }
                cursor = v
            }
            try r.finish()
            let page = try await engine.list(status: status, limit: limit, cursor: cursor)
            return ["jobs": .array(page.jobs.map(\.json)), "nextCursor": page.next.map { .string(String($0)) } ?? .null]

        case RPCMethod.jobSubscribe:
            var r = try FieldReader(try params(request))
            var id: String?
            if r.has("taskUUID") { id = try taskUUID(&r) }
            try r.finish()
            guard let connection else { throw AtelierError(.invalidValue, "subscriptions need a socket connection") }
            if let id { _ = try await engine.job(id) }
            let token = engine.events.subscribe(taskUUID: id) { [weak connection] event in
                var out: [UInt8] = []
                RPCFrame.notification(method: RPCMethod.jobEvent, params: event.json, into: &out)
                connection?.push(out)
            }
            connection.addSubscription(token, taskUUID: id)
            var result: JSONObject = ["subscribed": true, "taskUUID": id.map(JSONValue.string) ?? .null]
            if let id, let job = engine.cache.job(id) { result.append("job", job.json) }
            return .object(result)

        case RPCMethod.jobUnsubscribe:
            var r = try FieldReader(try params(request))
            var id: String?
            if r.has("taskUUID") { id = try taskUUID(&r) }
            try r.finish()
            let tokens = connection?.removeSubscriptions(taskUUID: id) ?? []
            for t in tokens { engine.events.unsubscribe(t) }
            return ["unsubscribed": .int(Int64(tokens.count))]

        case RPCMethod.routeExplain:
            var r = try FieldReader(try params(request))
            guard let t = r.raw("task") else { throw AtelierError(.missingField, "task is required", field: "/task") }
            let task = try ImageTask(json: t, path: "/task")
            try r.finish()
            return await engine.explain(task).json

        case RPCMethod.modelsList:
            let r = try FieldReader(try params(request))
            try r.finish()
            return ["models": await engine.modelsJSON()]

        case RPCMethod.daemonHealth:
            let r = try FieldReader(try params(request))
            try r.finish()
            return await engine.health()

        default:
            throw AtelierError(.internalError, "unreachable: unknown method")
        }
    }

    /// Whether this dispatcher knows `method`.
    public static func knows(_ method: String) -> Bool { RPCMethod.all.contains(method) }
}
