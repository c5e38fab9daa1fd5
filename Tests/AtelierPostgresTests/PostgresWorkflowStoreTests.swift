import AtelierCore
import Testing

@testable import AtelierEngine

/// Workflows in PostgreSQL: global idempotency on the workflowUUID, state changes, reconciliation list.
@Suite struct PostgresWorkflowStoreTests {
    func workflow(_ uuid: String, prompt: String) throws -> Workflow {
        let spec = try WorkflowSpec(json: try JSONParser.parse(#"{"workflowUUID":"\#(uuid)","positivePrompt":"\#(prompt)"}"#))
        return Workflow(spec: spec, finalSeed: 7, createdAt: .now())
    }

    @Test func oneWorkflowPerUUIDAcrossConcurrentSubmits() async throws {
        try await withStore { store, _ in
            let id = UUIDv4.generate()
            let same = try workflow(id, prompt: "a kite")
            let outcomes = try await concurrently(16) { _ in try await store.insertWorkflow(same) }
            #expect(outcomes.filter { if case .inserted = $0 { true } else { false } }.count == 1)
            #expect(outcomes.filter { if case .existing = $0 { true } else { false } }.count == 15)
            guard case .conflict = try await store.insertWorkflow(try workflow(id, prompt: "a boat")) else {
                Issue.record("a different request under the same workflowUUID is not a conflict")
                return
            }
            #expect(try await store.unfinishedWorkflows().map(\.workflowUUID) == [id])

            var changed = try #require(try await store.workflow(id))
            changed.state = .cancelled
            changed.updatedAt = .now()
            try await store.updateWorkflow(changed)
            #expect(try await store.workflow(id)?.state == .cancelled)
            #expect(try await store.unfinishedWorkflows().isEmpty)
            await #expect(throws: AtelierError.self) { try await store.updateWorkflow(try workflow(UUIDv4.generate(), prompt: "x")) }
        }
    }
}
