import AtelierCore
import AtelierRPC

extension AtelierClient {
    /// `job.submit`: stores the task durably and returns the job.
    public func submit(_ task: ImageTask) async throws -> Job { try decodeJob(await call(RPCMethod.jobSubmit, params: task.json)) }

    /// `job.submit` with raw task JSON (fields as in docs/protocol.md).
    public func submit(_ task: JSONValue) async throws -> Job { try decodeJob(await call(RPCMethod.jobSubmit, params: task)) }

    /// `job.submit` with `waitSeconds`: stores the task durably, then answers as ``wait(_:timeoutSeconds:)`` would —
    /// the job once finished, or as it is when `waitSeconds` pass — in one round trip.
    public func submit(_ task: ImageTask, waitSeconds: Double) async throws -> Job {
        guard case .object(var params) = task.json else { return try await submit(task) }
        params["waitSeconds"] = .number(waitSeconds)
        return try decodeJob(await call(RPCMethod.jobSubmit, params: .object(params)))
    }

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

    /// `job.list`: jobs, newest first; `nextCursor` continues the list.
    public func list(status: JobStatus? = nil, limit: Int = 50, cursor: String? = nil) async throws -> (jobs: [Job], nextCursor: String?) {
        let page = try await listPage(
            RPCMethod.jobList, "jobs", filters: ["status": status.map { .string($0.rawValue) }], limit: limit, cursor: cursor)
        var jobs: [Job] = []
        for j in page.items { jobs.append(try decodeJob(j)) }
        return (jobs, page.nextCursor)
    }

    /// `job.subscribe`: events for one job (or all when nil) arrive on ``notifications``.
    @discardableResult
    public func subscribe(taskUUID: String? = nil) async throws -> JSONValue {
        try await call(RPCMethod.jobSubscribe, params: taskUUID.map { ["taskUUID": .string($0)] } ?? [:])
    }

    /// `job.reproduce`: runs the job's recipe again as a new job and compares the images (the report of
    /// docs/protocol.md: `identical`, `images`, `differences`).
    /// - Returns: the report, and the answer as the daemon sent it.
    public func reproduce(
        _ taskUUID: String, reproductionTaskUUID: String? = nil, timeoutSeconds: Double
    ) async throws -> (report: ReproductionReport, json: JSONValue) {
        var p: JSONObject = ["taskUUID": .string(taskUUID)]
        p.append("reproductionTaskUUID", ifPresent: reproductionTaskUUID.map(JSONValue.string))
        p.append("timeoutSeconds", .number(timeoutSeconds))
        let answer = try await call(RPCMethod.jobReproduce, params: .object(p))
        return (try ReproductionReport(reading: answer), answer)
    }

    /// `job.recipe`: the job's recipe document (one image's when `imageUUID` is given).
    public func recipe(_ taskUUID: String, imageUUID: String? = nil) async throws -> JSONValue {
        var p: JSONObject = ["taskUUID": .string(taskUUID)]
        p.append("imageUUID", ifPresent: imageUUID.map(JSONValue.string))
        return try await call(RPCMethod.jobRecipe, params: .object(p))
    }

    /// `route.explain`: how the task would be routed, without running it.
    public func explain(_ task: JSONValue) async throws -> RouteExplanation {
        try RouteExplanation(await call(RPCMethod.routeExplain, params: ["task": task]))
    }

    func decodeJob(_ v: JSONValue) throws -> Job {
        do { return try Job(json: v) } catch { throw AtelierClientError.badResponse("job: \(error)") }
    }

    /// Calls a `*.list` method: the optional filters, `limit` and `cursor`; returns the `itemsKey` array and `nextCursor`.
    func listPage(
        _ method: String, _ itemsKey: String, filters: KeyValuePairs<String, JSONValue?>, limit: Int, cursor: String?
    ) async throws -> (items: [JSONValue], nextCursor: String?) {
        var p: JSONObject = ["limit": .int(Int64(limit))]
        for (k, v) in filters { p.append(k, ifPresent: v) }
        p.append("cursor", ifPresent: cursor.map(JSONValue.string))
        let r = try await call(method, params: .object(p))
        guard let items = r[itemsKey]?.arrayValue else { throw AtelierClientError.badResponse("\(method) without \(itemsKey)") }
        return (items, r["nextCursor"]?.stringValue)
    }
}
