import AtelierCore
import AtelierEngine
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

extension HTTPFace {
    /// Events buffered for one slow stream before the oldest are dropped (the page reloads its list when told).
    static let eventBuffer = 512

    /// `GET /api/events`: server-sent events (`text/event-stream`) of every job change (`event: job`, data
    /// `{event, taskUUID, status, job: summary}`) and workflow change (`event: workflow`, data `{event,
    /// workflowUUID, state}`), published after the change commits. The console reads it with `fetch` (so the token
    /// travels in the header; `EventSource` cannot send one). A comment line every 15 s keeps proxies from closing it
    /// and notices a gone reader; a reader that falls more than ``eventBuffer`` events behind loses the oldest and is
    /// sent `event: dropped`. The stream ends when the daemon shuts down.
    func addEvents(to router: Hummingbird.Router<BasicRequestContext>) {
        let engine = self.engine
        let workflows = services.workflows
        router.get("/api/events") { _, _ -> Response in
            // The sinks run on the publishing task (the engine's): they only enqueue; encoding happens in the writer.
            let (stream, continuation) = AsyncStream.makeStream(of: EventItem.self, bufferingPolicy: .bufferingNewest(Self.eventBuffer))
            let dropped = DropCounter()
            let jobToken = engine.events.subscribe(taskUUID: nil) { event in
                if case .dropped = continuation.yield(.job(event)) { dropped.add() }
            }
            let workflowToken = workflows?.events.subscribe(workflowUUID: nil) { event in
                if case .dropped = continuation.yield(.workflow(event)) { dropped.add() }
            }
            let keepAlive = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(15))
                    let lost = dropped.take()
                    if lost > 0 { continuation.yield(.text(Self.sse("dropped", ["dropped": .int(Int64(lost))]))) }
                    continuation.yield(.text(": keep-alive\n\n"))
                }
            }
            continuation.onTermination = { _ in
                engine.events.unsubscribe(jobToken)
                if let workflowToken { workflows?.events.unsubscribe(workflowToken) }
                keepAlive.cancel()
            }
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: Self.sse("hello", ["version": .string(AtelierVersion.current)])))
                // Ends on a graceful shutdown of the daemon, when the reader goes away (the write throws), or when
                // the stream is finished.
                try? await withGracefulShutdownHandler {
                    for await item in stream { try await writer.write(ByteBuffer(string: item.text)) }
                } onGracefulShutdown: {
                    continuation.finish()
                }
                continuation.finish()
                try await writer.finish(nil)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no"],
                body: body)
        }
    }

    /// One server-sent event.
    static func sse(_ name: String, _ data: JSONValue) -> String {
        "event: \(name)\ndata: " + String(decoding: JSONWriter.bytes(data), as: UTF8.self) + "\n\n"
    }
}

/// What waits in one event stream: an event, or text already in the stream's format.
enum EventItem: Sendable {
    case job(JobEvent)
    case workflow(WorkflowEvent)
    case text(String)

    /// The item in the `text/event-stream` format.
    var text: String {
        switch self {
        case .job(let e):
            HTTPFace.sse(
                "job",
                [
                    "event": .string(e.event.rawValue), "taskUUID": .string(e.job.taskUUID), "status": .string(e.job.status.rawValue),
                    "job": JobSummary.json(e.job),
                ])
        case .workflow(let e):
            HTTPFace.sse(
                "workflow",
                ["event": .string(e.event.rawValue), "workflowUUID": .string(e.workflow.workflowUUID), "state": .string(e.workflow.state.rawValue)])
        case .text(let t): t
        }
    }
}

/// Counts events a slow stream lost, until they are reported.
final class DropCounter: Sendable {
    private let count = Mutex(0)
    /// One more lost.
    func add() { count.withLock { $0 += 1 } }
    /// The number lost since the last call.
    func take() -> Int {
        count.withLock { n in
            defer { n = 0 }
            return n
        }
    }
}
