import Testing

@testable import AtelierEngine

/// Work that must finish (a store write) runs to the end even when the task asking for it was cancelled.
@Suite("withoutCancellation")
struct WithoutCancellationTests {
    @Test func theOperationDoesNotSeeTheCallersCancellation() async {
        let seen = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            let callerCancelled = Task.isCancelled
            let inside = await withoutCancellation { Task.isCancelled }
            // A cancellation-checking sleep completes too (it would throw at once in the cancelled caller).
            let slept = await withoutCancellation { (try? await Task.sleep(for: .milliseconds(1))) != nil }
            return (callerCancelled, inside, slept)
        }.value
        #expect(seen.0, "the caller was cancelled")
        #expect(!seen.1)
        #expect(seen.2)
    }

    @Test func theOperationsErrorIsThrownAsItIs() async {
        struct Full: Error, Equatable {}
        await #expect(throws: Full()) {
            try await withoutCancellation { () async throws(Full) -> Int in throw Full() }
        }
    }
}
