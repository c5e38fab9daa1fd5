import AtelierCore
import AtelierEngine
import Testing

/// Job event kinds are wire names (docs/protocol.md, `job.event`), and the kinds that finish a job name its status.
@Suite("job events")
struct JobEventTests {
    @Test func wireNamesAreThoseOfTheProtocol() {
        #expect(JobEventKind.allCases.map(\.rawValue) == ["queued", "running", "result", "succeeded", "failed", "cancelled", "interrupted"])
    }

    @Test func onlySucceededFailedAndCancelledFinishAJob() {
        for kind in JobEventKind.allCases {
            if let status = kind.finalStatus {
                #expect(status.isTerminal)
                #expect(status.rawValue == kind.rawValue)
            }
        }
        #expect(JobEventKind.allCases.compactMap(\.finalStatus) == [.succeeded, .failed, .cancelled])
    }

    @Test func notificationParamsCarryTheWireName() {
        let task = ImageTask(positivePrompt: "a kite")
        let job = Job(task: task, createdAt: Timestamp(milliseconds: 0), route: nil)
        let params = JobEvent(.queued, job: job).json
        #expect(params["event"]?.stringValue == "queued")
        #expect(params["taskUUID"]?.stringValue == task.taskUUID)
        #expect(params["status"]?.stringValue == "queued")
    }
}
