import AtelierCore
import Logging
import Testing

@testable import AtelierEngine

/// A logger that writes nothing (the store logs migrations at info level).
let quietLogger = Logger(label: "atelier.postgres-tests") { _ in SwiftLogNoOpLogHandler() }

/// A fresh cluster and a migrated store on its `postgres` database, both gone afterwards.
func withStore<T: Sendable>(_ body: @escaping @Sendable (PostgresStore, PostgresCluster) async throws -> T) async throws -> T {
    try await withPostgres { cluster in
        // A generous call deadline: the full suite can keep the cooperative pool busy for seconds at a time.
        try await PostgresStore.withStore(try cluster.location(), callTimeout: .seconds(60), logger: quietLogger) { store in
            try await body(store, cluster)
        }
    }
}

/// A queued job routed to `provider`.
func makeJob(
    _ uuid: String = UUIDv4.generate(), prompt: String = "a lighthouse", provider: String = "local", tags: [String: String] = [:]
)
    -> Job
{
    let task = ImageTask(taskUUID: uuid, positivePrompt: prompt, model: "local-render", tags: tags)
    return Job(
        task: task, status: .queued, createdAt: .now(),
        route: RouteSummary(provider: provider, model: "local-render", reasons: ["test"], estimatedCostUSD: 0.01))
}

/// Runs `operation` `count` times at once (each in its own child task) and returns the results in index order.
func concurrently<T: Sendable>(_ count: Int, _ operation: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        for i in 0..<count { group.addTask { (i, try await operation(i)) } }
        var out = [T?](repeating: nil, count: count)
        for try await (i, value) in group { out[i] = value }
        return out.map { $0! }
    }
}

/// The first element of `stream` that satisfies `predicate`, or nil (with a recorded Issue) when none arrives
/// within `timeout`.
func first<T: Sendable>(
    _ stream: AsyncThrowingStream<T, any Error>, within timeout: Duration, _ comment: Comment,
    sourceLocation: SourceLocation = #_sourceLocation, where predicate: @escaping @Sendable (T) -> Bool
) async throws -> T? {
    let found = try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            for try await element in stream where predicate(element) { return element }
            return nil
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let value = try await group.next() ?? nil
        group.cancelAll()
        return value
    }
    if found == nil { Issue.record("nothing arrived within \(timeout): \(comment.rawValue)", sourceLocation: sourceLocation) }
    return found
}

/// Thrown by ``withDeadline(_:_:)`` when the operation did not finish in time.
struct DeadlinePassed: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "did not finish within \(timeout)" }
}

/// Runs `operation`, throwing ``DeadlinePassed`` (and cancelling it) when it takes longer than `timeout`.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let value = try await group.next() ?? nil else { throw DeadlinePassed(timeout: timeout) }
        return value
    }
}
