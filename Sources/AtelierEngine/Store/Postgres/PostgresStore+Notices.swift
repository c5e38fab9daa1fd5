import AtelierCore
import PostgresNIO

extension PostgresStore {
    /// See ``EngineStore/withJobNotices(_:)``. One pooled connection runs `LISTEN atelier_job` while `body` runs;
    /// `body` starts only once the server confirmed the LISTEN, so every change committed after that is seen. The
    /// stream ends with an error when the listening connection is lost (the caller listens again and reconciles).
    public func withJobNotices<T: Sendable>(_ body: (AsyncThrowingStream<JobNotice, any Error>) async throws -> T) async throws -> T {
        let (notices, sink) = AsyncThrowingStream<JobNotice, any Error>.makeStream()
        let (ready, readySink) = AsyncThrowingStream<Void, any Error>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.client.withConnection { connection in
                        try await connection.listen(on: Self.jobChannel) { notifications in
                            readySink.finish()
                            for try await notification in notifications {
                                if let notice = Self.notice(fromPayload: notification.payload) { sink.yield(notice) }
                            }
                        }
                    }
                    sink.finish()
                } catch {
                    readySink.finish(throwing: error)
                    sink.finish(throwing: error)
                }
            }
            defer { group.cancelAll() }
            for try await _ in ready {}
            return try await body(notices)
        }
    }

    /// The NOTIFY payload of a change: `{"taskUUID", "status", "event", "daemon", "provider"}` (well under PostgreSQL's 8000-byte
    /// limit; no task content, so no secret ever travels on the channel).
    static func noticePayload(_ notice: JobNotice) -> String {
        var o = JSONObject()
        o.append("taskUUID", .string(notice.taskUUID))
        o.append("status", .string(notice.status.rawValue))
        o.append("event", notice.event.map { .string($0.rawValue) } ?? .null)
        o.append("daemon", notice.daemon.map(JSONValue.string) ?? .null)
        if notice.cancelRequested { o.append("cancelRequested", .bool(true)) }
        if let provider = notice.provider { o.append("provider", .string(provider)) }
        return JSONWriter.string(.object(o))
    }

    /// The notice in a payload, or nil when it is not one of ours.
    static func notice(fromPayload payload: String) -> JobNotice? {
        guard case .object(let o)? = try? JSONParser.parse(payload), let id = o["taskUUID"]?.stringValue,
            let status = o["status"]?.stringValue.flatMap(JobStatus.init(rawValue:))
        else { return nil }
        var notice = JobNotice(
            taskUUID: id, status: status, event: o["event"]?.stringValue.flatMap(JobEventKind.init(rawValue:)), daemon: o["daemon"]?.stringValue)
        if case .bool(true)? = o["cancelRequested"] { notice.cancelRequested = true }
        notice.provider = o["provider"]?.stringValue
        return notice
    }
}
