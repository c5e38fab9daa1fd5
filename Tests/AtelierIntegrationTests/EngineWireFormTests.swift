import AtelierCore
import Testing

@testable import AtelierEngine
@testable import AtelierServer

/// The server renders what the engine publishes and reports: job events as `job.event` params, the store's
/// condition as `daemon.health`'s `store` (docs/protocol.md).
@Suite struct EngineWireFormTests {
    @Test func notificationParamsCarryTheWireName() {
        let task = ImageTask(positivePrompt: "a kite")
        let job = Job(task: task, createdAt: Timestamp(milliseconds: 0), route: nil)
        let params = JobEvent(.queued, job: job).json
        #expect(params.objectValue?.keys == ["taskUUID", "status", "event", "job"])
        #expect(params["event"]?.stringValue == "queued")
        #expect(params["taskUUID"]?.stringValue == task.taskUUID)
        #expect(params["status"]?.stringValue == "queued")
        #expect(params["job"] == job.json)
    }

    @Test func storeStatusIsOkErrorSince() {
        let ok = StoreCondition.Status(ok: true, error: nil, since: nil).json
        #expect(ok == ["ok": true, "error": .null, "since": .null])
        let since = Timestamp(milliseconds: 1_700_000_000_000)
        let failing = StoreCondition.Status(ok: false, error: "disk full", since: since).json
        #expect(failing == ["ok": false, "error": "disk full", "since": .string(since.iso8601)])
    }
}
