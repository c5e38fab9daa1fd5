import AtelierCore
import AtelierEngine
import AtelierRPC

extension RPCDispatcher {
    /// The most distinct `job.subscribe` filters (one per taskUUID, plus "every job") one connection may hold.
    public static let maxSubscriptionsPerConnection = 64

    /// `job.submit`'s own member `waitSeconds` (0 to ``FieldReader/maxTimeoutSeconds``), taken out of the task it
    /// comes with: it is not part of the task, so it is neither stored nor compared when the same taskUUID is
    /// submitted again.
    static func submitWait(_ params: JSONValue) throws(AtelierError) -> (task: JSONValue, waitSeconds: Double?) {
        guard case .object(var members) = params, let raw = members["waitSeconds"] else { return (params, nil) }
        var r = try FieldReader(.object(["waitSeconds": raw]))
        let waitSeconds = try r.double("waitSeconds", in: 0...FieldReader.maxTimeoutSeconds)
        members["waitSeconds"] = nil
        return (.object(members), waitSeconds)
    }

    /// `job.*`, `route.explain`, `models.list` (`daemon.health` is in `RPCDispatcher+Admin.swift`).
    static let jobHandlers: [String: Handler] = [
        RPCMethod.jobSubmit: { d, params, connection throws(AtelierError) in
            let (taskParams, waitSeconds) = try RPCDispatcher.submitWait(params)
            let task = try ImageTask(json: taskParams)
            let job = try await d.engine.submit(task)
            // Committed either way; with `waitSeconds` the answer is job.wait's (one round trip instead of two).
            guard let waitSeconds else { return job.json }
            return await d.withDeliveries(try await d.engine.wait(job.taskUUID, timeoutSeconds: waitSeconds)).json
        },
        RPCMethod.jobGet: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("taskUUID")
            try r.finish()
            return await d.withDeliveries(try await d.engine.job(id)).json
        },
        RPCMethod.jobWait: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("taskUUID")
            let timeout = try r.timeoutSeconds(default: 30)
            try r.finish()
            return await d.withDeliveries(try await d.engine.wait(id, timeoutSeconds: timeout)).json
        },
        RPCMethod.jobCancel: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("taskUUID")
            try r.finish()
            return try await d.engine.cancel(id).json
        },
        RPCMethod.jobList: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            let status = try r.enumValue("status", allowed: JobStatus.allCases, what: "status")
            let (limit, cursor) = try r.page()
            try r.finish()
            let page = try await d.engine.list(status: status, limit: limit, cursor: cursor)
            return ["jobs": .array(page.jobs.map(\.json)), "nextCursor": page.next.map { .string(String($0)) } ?? .null]
        },
        RPCMethod.jobSubscribe: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.uuid("taskUUID")
            try r.finish()
            guard let connection else { throw AtelierError(.invalidValue, "subscriptions need a socket connection") }
            if let id { _ = try await d.engine.job(id) }
            // Idempotent per filter, and capped per connection: repeating the call never multiplies notifications.
            let limit = RPCDispatcher.maxSubscriptionsPerConnection
            let outcome = connection.subscribe(taskUUID: id, limit: limit) {
                d.engine.events.subscribe(taskUUID: id) { [weak connection] event in
                    connection?.pushEvent(matchedBy: id) {
                        var out: [UInt8] = []
                        RPCFrame.notification(method: RPCMethod.jobEvent, params: event.json, into: &out)
                        return out
                    }
                }
            }
            if case .full = outcome {
                throw AtelierError(
                    .tooManySubscriptions,
                    "a connection may hold at most \(limit) subscriptions; call job.unsubscribe first, or subscribe to every job with {}",
                    field: "/taskUUID", details: ["limit": .int(Int64(limit))])
            }
            var result: JSONObject = ["subscribed": true, "taskUUID": id.map(JSONValue.string) ?? .null]
            if let id, let job = d.engine.cache.job(id) { result.append("job", job.json) }
            return .object(result)
        },
        RPCMethod.jobUnsubscribe: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.uuid("taskUUID")
            try r.finish()
            let tokens = connection?.removeSubscriptions(taskUUID: id) ?? []
            for t in tokens { d.engine.events.unsubscribe(t) }
            return ["unsubscribed": .int(Int64(tokens.count))]
        },
        RPCMethod.routeExplain: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            guard let t = r.raw("task") else { throw AtelierError(.missingField, "task is required", field: "/task") }
            let task = try ImageTask(json: t, path: "/task")
            try r.finish()
            return await d.engine.explain(task).json
        },
        RPCMethod.modelsList: { d, params, connection throws(AtelierError) in
            let r = try FieldReader(params)
            try r.finish()
            return ["models": .array(await d.engine.models().map(\.json))]
        },
    ]
}
