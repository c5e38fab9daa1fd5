import AtelierCore
import AtelierEngine
import Foundation
import Synchronization
import Testing

/// True for the first ``claim()`` only.
final class FirstTime: Sendable {
    private let claimed = Mutex(false)
    func claim() -> Bool {
        claimed.withLock { c in
            defer { c = true }
            return !c
        }
    }
}

/// A store fault never strands a workflow: a state change the daemon makes by itself (a stage job finished) is
/// retried until it commits, like a job's; a caller's change is refused with a retryable `store_failure` saying why.
@Suite("workflows: store faults", .serialized)
struct WorkflowStoreFaultTests {
    @Test func aStageJobFinishingDuringAStoreFaultStillMovesTheWorkflow() async throws {
        // The workflow harness over a store whose commits can be made to fail, with real (short) backoff.
        let h = try await WorkflowHarness.make(waits: .live)
        defer { h.cleanup() }
        // The disk fills the moment the variant's success is committed: the workflow's own state change (the variant
        // recorded, awaiting selection) is the first commit to fail.
        let faults = h.faults
        let first = FirstTime()
        let armed = h.engine.events.subscribe(taskUUID: nil) { ev in
            if ev.job.status == .succeeded, ev.job.task.tags[WorkflowSpec.Tag.workflow] != nil, first.claim() {
                faults.failCommits(with: .SQLITE_FULL)
            }
        }
        defer { h.engine.events.unsubscribe(armed) }
        let submitted = try await h.service.submit(
            try WorkflowSpec(json: JSONParser.parse(#"{"positivePrompt":"a kite","ideation":{"count":1,"model":"gem-fast"}}"#)))
        let id = submitted.workflow.workflowUUID

        // The change is retried while the store refuses it (on the old code it was tried once and dropped).
        guard try await eventually(timeout: .seconds(120), "the workflow's change retried", { h.faults.injectedCount >= 5 }) else {
            await h.stop()
            return
        }
        let during = try #require(try await h.store.workflow(id))
        #expect(during.state == .ideating, "nothing committed during the fault")
        #expect(during.variants.allSatisfy { !$0.isFinished })

        // Space is freed: the workflow moves on by itself, no restart.
        h.faults.stop()
        _ = try await h.service.wait(id, timeoutSeconds: 120)
        let after = try await h.service.workflow(id)
        #expect(after.state == .awaitingSelection, "\(after.state)")
        #expect(after.variants.allSatisfy { $0.status == .succeeded })
        #expect(try await h.store.workflow(id)?.state == .awaitingSelection, "what the store holds, not just memory")

        // A caller's change during a fault is not retried behind the caller's back: it is refused, retryably,
        // saying why, and nothing changes.
        let image = try #require(after.variants.first?.image)
        h.faults.failCommits(1, with: .SQLITE_FULL)
        do {
            _ = try await h.service.select(id, imageUUID: image.imageUUID)
            Issue.record("a selection was accepted although its commit failed")
        } catch {
            #expect(error.code == .storeFailure && error.retryable)
            #expect(error.message.contains("disk full at \(h.dir)"), "\(error.message)")
        }
        #expect(try await h.store.workflow(id)?.state == .awaitingSelection)

        // Asked again once the store takes writes, it goes through and the workflow finishes.
        _ = try await h.service.select(id, imageUUID: image.imageUUID)
        _ = try await h.service.wait(id, timeoutSeconds: 120)
        #expect(try await h.service.workflow(id).state == .succeeded)
        await h.stop()
    }
}
