import AtelierCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import AtelierEngine

/// Workflows on a cluster: one daemon accepts a workflow, another runs its jobs, and the workflow continues exactly
/// once — each stage job's end is applied once although it reaches both daemons (the runner's own event and the
/// accepting daemon's relayed one), concurrent ends are never lost, and `workflow.wait` on the accepting daemon
/// sees the other's progress.
@Suite(.serialized) struct PostgresWorkflowClusterTests {
    /// The workflow events a daemon published, in order.
    final class WorkflowLog: Sendable {
        private let events = Mutex<[WorkflowEvent]>([])
        func append(_ e: WorkflowEvent) { events.withLock { $0.append(e) } }
        var all: [WorkflowEvent] { events.withLock { $0 } }
    }

    /// A workflow service on `node` over the cluster's workflow rows, logging its events.
    static func service(on node: EngineNode) async throws -> (WorkflowService, WorkflowLog) {
        let service = WorkflowService(engine: node.engine, store: PostgresWorkflowStore(store: node.store, outbox: nil), logger: quietLogger)
        let log = WorkflowLog()
        _ = service.events.subscribe(workflowUUID: nil) { log.append($0) }
        try await service.start()
        return (service, log)
    }

    static func spec(_ id: String) throws -> WorkflowSpec {
        try WorkflowSpec(
            json: try JSONParser.parse(
                #"{"workflowUUID":"\#(id)","positivePrompt":"image","ideation":{"count":3},"selection":{"mode":"first"},"final":{"useSelectedAsReference":false}}"#
            ))
    }

    /// The gap the catch-up closes: the daemon that accepted the workflow is gone, the daemon that runs its jobs
    /// applies no end (it died right after each commit — here it runs no workflow service at all), and the one
    /// daemon left with a workflow service never showed those jobs, so no end reaches it as an event. Its periodic
    /// catch-up finds the stored ends and the workflow finishes, each transition made once.
    @Test func endsThatReachedNoDaemonsServiceAreCaughtUp() async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // A's service runs from before the workflow exists (it never reads, so never shows, its jobs).
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", hold: true)
            let (wa, logA) = try await Self.service(on: a)
            // X accepts the workflow and stops before any of its jobs ran.
            let x = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-x", hold: true)
            let (wx, logX) = try await Self.service(on: x)
            let id = UUIDv4.generate()
            _ = try await wx.submit(try Self.spec(id))
            await wx.stop()
            await x.stop()
            // B runs every job and applies no end.
            let b = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-b")
            let done = try await eventuallyValue(timeout: .seconds(60), "the workflow finishes through A's catch-up") {
                let w = try await wa.workflow(id)
                return w.state.isTerminal ? w : nil
            }
            #expect(done?.state == .succeeded, "\(String(describing: done?.state))")
            // The stored state can be read before A's service has published the transition it committed.
            _ = try await eventually(timeout: .seconds(60), "A publishes the end it made") {
                logA.all.contains { $0.workflow.workflowUUID == id && !$0.remote && $0.event == .succeeded }
            }
            let made = logA.all.filter { $0.workflow.workflowUUID == id && !$0.remote }.map(\.event)
            #expect(made.filter { $0 == .variantFinished }.count == 3, "\(made)")
            #expect(made.filter { $0 == .finalizing }.count == 1, "\(made)")
            #expect(made.filter { $0 == .succeeded }.count == 1, "\(made)")
            #expect(!logX.all.contains { $0.event == .variantFinished }, "X stopped before any job ran")
            let final = try #require(done?.final.taskUUID)
            #expect(b.provider.generated.filter { $0 == final }.count == 1, "the final ran once")
            await wa.stop()
            await b.stop()
            await a.stop()
        }
    }

    @Test func aWorkflowWhoseJobsRunOnAnotherDaemonContinuesExactlyOnce() async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // A accepts and never runs a job; B runs every job.
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", hold: true)
            let b = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-b")
            let (wa, logA) = try await Self.service(on: a)
            let (wb, logB) = try await Self.service(on: b)
            for round in 0..<3 {
                let id = UUIDv4.generate()
                let spec = try WorkflowSpec(
                    json: try JSONParser.parse(
                        #"{"workflowUUID":"\#(id)","positivePrompt":"image","ideation":{"count":4},"selection":{"mode":"first"},"final":{"useSelectedAsReference":false}}"#
                    ))
                _ = try await wa.submit(spec)
                // workflow.wait on the accepting daemon sees the end the other daemon's jobs brought.
                let done = try await wa.wait(id, timeoutSeconds: 30)
                #expect(done.workflow.state == .succeeded, "round \(round): \(done.workflow.state)")
                // Every variant's end is recorded (none lost to a concurrent change on the other daemon).
                let settled = try await eventuallyValue(timeout: .seconds(60), "every variant recorded") {
                    let w = try await wb.workflow(id)
                    return w.variants.allSatisfy(\.isFinished) ? w : nil
                }
                #expect(settled?.variants.allSatisfy { $0.status == .succeeded } == true)
                // Each transition was made once in the cluster: its events published by one daemon, unmarked; the
                // other showed it (if at all) marked remote.
                let made = (logA.all + logB.all).filter { $0.workflow.workflowUUID == id && !$0.remote }.map(\.event)
                #expect(made.filter { $0 == .finalizing }.count == 1, "round \(round): \(made)")
                #expect(made.filter { $0 == .succeeded }.count == 1, "round \(round): \(made)")
                #expect(made.filter { $0 == .variantFinished }.count == 4, "round \(round): \(made)")
                #expect(logA.all.contains { $0.workflow.workflowUUID == id && $0.event == .succeeded }, "A's listeners saw the end")
                // The final job ran once, on B.
                let final = try #require(settled?.final.taskUUID)
                #expect(b.provider.generated.filter { $0 == final }.count == 1)
                #expect(a.provider.generated.isEmpty)
            }
            await wa.stop()
            await wb.stop()
            await b.stop()
            await a.stop()
        }
    }
}
