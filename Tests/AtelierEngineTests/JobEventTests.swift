import AtelierCore
import AtelierEngine
import Testing

/// Job event kinds are wire names (docs/protocol.md, `job.event`; the server renders the notification, see
/// EngineWireFormTests), and the kinds that finish a job name its status.
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
}
