import AtelierCore
import AtelierEngine
import AtelierRPC
import NIOCore
import NIOPosix
import Synchronization

/// Per-connection state shared with asynchronous work: the channel for writes and the subscriptions.
///
/// Event notifications are bounded per connection: at most ``maxQueuedEventBytes`` of them may wait unsent (written
/// to the channel but not yet taken by the socket). A subscriber that falls behind that loses the events that arrive
/// meanwhile; once its queue drains to half the cap it gets one `job.events_dropped` notification with the count,
/// and events flow again. Answers to requests never pass through here and are never dropped (the handler stops
/// reading a connection whose answers pile up instead).
final class ConnectionState: RPCConnection {
    /// The most event bytes one connection may have waiting unsent.
    static let maxQueuedEventBytes = 256 << 10

    let channel: any Channel
    private let subscriptions = Mutex<[(EventBus<JobEvent>.Token, String?)]>([])
    /// Event bytes written and not yet sent, whether events are being dropped, and how many were.
    private let outbound = Mutex<(queued: Int, dropping: Bool, dropped: Int)>((0, false, 0))

    init(channel: any Channel) { self.channel = channel }

    func push(_ bytes: [UInt8]) {
        guard channel.isActive else { return }
        let admitted = outbound.withLock { o -> Bool in
            // With nothing queued, an event goes out whatever its size (so a pending write always ends dropping).
            if o.dropping || (o.queued > 0 && o.queued + bytes.count > Self.maxQueuedEventBytes) {
                o.dropping = true
                o.dropped += 1
                return false
            }
            o.queued += bytes.count
            return true
        }
        if admitted { send(bytes) }
    }

    func pushEvent(matchedBy filter: String?, _ encode: () -> [UInt8]) {
        // An event of a job this connection also follows through its every-job subscription is sent by that one.
        if filter != nil, subscriptions.withLock({ subs in subs.contains { $0.1 == nil } }) { return }
        push(encode())
    }

    /// Writes queued bytes; when they have left (or the channel closed) takes them off the queue, and once a
    /// dropping queue has drained to half the cap, sends the `job.events_dropped` notice. The notice is written
    /// outside the lock: completing a write may complete others, whose callbacks take the lock.
    private func send(_ bytes: [UInt8]) {
        channel.writeAndFlush(ByteBuffer(bytes: bytes)).whenComplete { [self] _ in
            let notice = outbound.withLock { o -> [UInt8]? in
                o.queued -= bytes.count
                guard o.dropping, o.queued <= Self.maxQueuedEventBytes / 2 else { return nil }
                var out: [UInt8] = []
                RPCFrame.notification(method: RPCMethod.jobEventsDropped, params: ["dropped": .int(Int64(o.dropped))], into: &out)
                o.dropping = false
                o.dropped = 0
                o.queued += out.count
                return out
            }
            if let notice, channel.isActive { send(notice) }
        }
    }

    func addSubscription(_ token: EventBus<JobEvent>.Token, taskUUID: String?) {
        subscriptions.withLock { $0.append((token, taskUUID)) }
    }

    func subscribe(
        taskUUID: String?, limit: Int, _ make: () -> EventBus<JobEvent>.Token
    ) -> SubscribeOutcome {
        subscriptions.withLock { subs in
            if subs.contains(where: { $0.1 == taskUUID }) { return .existing }
            guard subs.count < limit else { return .full }
            subs.append((make(), taskUUID))
            return .added
        }
    }

    func removeSubscriptions(taskUUID: String?) -> [EventBus<JobEvent>.Token] {
        subscriptions.withLock { subs in
            let (gone, kept) = (subs.filter { taskUUID == nil || $0.1 == taskUUID }, subs.filter { !(taskUUID == nil || $0.1 == taskUUID) })
            subs = kept
            return gone.map(\.0)
        }
    }
}

/// Handles one client connection: parses each frame, answers fast methods on the event loop, runs the rest as
/// tasks and writes their answers in completion order (responses carry the request id).
///
/// Flow control: at most `maxInFlight` requests of one connection run at once (each item of a batch counts);
/// past that the connection stops reading until answers drain, so a flooding client slows itself down without
/// affecting others. A batch holds at most `maxBatch` requests. The connection also stops reading while its
/// unflushed answers are above the channel's write-buffer high water mark (a client that does not read), and
/// resumes when they drain below the low mark.
///
/// Large frames (``offloadFrameBytes`` and more) are parsed on a thread pool, not on the event loop, so that a
/// frame of many megabytes never delays the other connections served by the same loop. While one is parsed, the
/// connection stops reading and keeps later frames in order behind it.
final class RPCConnectionHandler: ChannelInboundHandler {
    /// Frames at least this long are parsed off the event loop. Parsing is linear (a 2 MB frame of 100,000 members
    /// is answered in about 40 ms by a release build, `scripts/bench-large-frame`), so smaller frames cost the loop
    /// well under a millisecond.
    static let offloadFrameBytes = 64 << 10

    /// The threads that parse large frames: a pool of their own, so a parse never waits behind file work on
    /// `NIOThreadPool.singleton` (a slow disk), and file work never waits behind a 64 MiB parse. Lives as long as
    /// the process.
    static let parsePool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let dispatcher: RPCDispatcher
    private let maxInFlight: Int
    private var inFlight = 0
    private let maxBatch: Int
    /// Paused because ``inFlight`` reached ``maxInFlight``.
    private var readingPaused = false
    /// Paused because the channel is not writable (answers wait unflushed above the high water mark).
    private var unwritable = false
    /// Whether autoRead is currently off.
    private var autoReadOff = false
    /// A large frame is being parsed off the loop; frames read meanwhile wait in ``backlog``. They wait there too
    /// while the connection has ``maxInFlight`` requests running or its answers are not flushed (frames already
    /// read when reading stopped are held as bytes, never started).
    private var parsing = false
    private var backlog = CircularBuffer<ByteBuffer>()
    private var state: ConnectionState?
    private let onClose: @Sendable () -> Void

    init(dispatcher: RPCDispatcher, maxInFlight: Int, maxBatch: Int = 1000, onClose: @escaping @Sendable () -> Void) {
        self.dispatcher = dispatcher
        self.maxInFlight = maxInFlight
        self.maxBatch = maxBatch
        self.onClose = onClose
    }

    func channelActive(context: ChannelHandlerContext) {
        state = ConnectionState(channel: context.channel)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        unwritable = !context.channel.isWritable
        drainBacklog(context)
        updateReading(context)
        context.fireChannelWritabilityChanged()
    }

    /// Turns reading off while any reason to pause holds (a large frame being parsed, too many requests in
    /// flight, unflushed answers above the high water mark), and back on (with a read) when none does.
    private func updateReading(_ context: ChannelHandlerContext) {
        let pause = parsing || readingPaused || unwritable || !backlog.isEmpty
        guard pause != autoReadOff else { return }
        autoReadOff = pause
        context.channel.setOption(ChannelOptions.autoRead, value: !pause).whenComplete { _ in }
        if !pause { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let state {
            for t in state.removeSubscriptions(taskUUID: nil) { dispatcher.engine.events.unsubscribe(t) }
        }
        onClose()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if mustWait {
            backlog.append(frame)
            updateReading(context)
            return
        }
        handleFrame(context, frame)
    }

    /// Whether a frame read now must wait in ``backlog``.
    private var mustWait: Bool { parsing || inFlight >= maxInFlight || unwritable || !backlog.isEmpty }

    /// Handles waiting frames, in order, as long as nothing holds them back.
    private func drainBacklog(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else {
            backlog.removeAll()
            return
        }
        var handled = false
        while !parsing && inFlight < maxInFlight && !unwritable, let frame = backlog.popFirst() {
            handleFrame(context, frame)
            handled = true
        }
        if handled { context.flush() }
    }

    private func handleFrame(_ context: ChannelHandlerContext, _ frame: ByteBuffer) {
        // Blank lines are ignored (keep-alives from simple clients).
        if frame.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        if frame.readableBytes >= Self.offloadFrameBytes {
            parseOffLoop(context, frame)
            return
        }
        handleParsed(context, Self.parse(frame))
    }

    private static func parse(_ frame: ByteBuffer) -> Result<JSONValue, JSONParseError> {
        frame.withUnsafeReadableBytes { raw in
            do throws(JSONParseError) { return .success(try JSONParser.parse(raw)) } catch { return .failure(error) }
        }
    }

    /// Parses `frame` on ``parsePool``; the connection stops reading until the result is handled back on the
    /// event loop, followed by any frames that arrived meanwhile, in order.
    private func parseOffLoop(_ context: ChannelHandlerContext, _ frame: ByteBuffer) {
        parsing = true
        updateReading(context)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        Self.parsePool.runIfActive(eventLoop: loop) { Self.parse(frame) }.whenComplete { outcome in
            let (handler, ctx) = bound.value
            handler.parsing = false
            guard ctx.channel.isActive else {
                handler.backlog.removeAll()
                return
            }
            switch outcome {
            case .success(let parsed): handler.handleParsed(ctx, parsed)
            case .failure: handler.handleParsed(ctx, .failure(JSONParseError(offset: 0, reason: "the daemon is shutting down")))
            }
            handler.drainBacklog(ctx)
            handler.updateReading(ctx)
            ctx.flush()
        }
    }

    private func handleParsed(_ context: ChannelHandlerContext, _ result: Result<JSONValue, JSONParseError>) {
        let parsed: JSONValue
        switch result {
        case .success(let v):
            parsed = v
        case .failure(let error):
            var out: [UInt8] = []
            RPCFrame.error(id: .null, .parseError(error.description), into: &out)
            write(context, out)
            return
        }
        switch parsed {
        case .array(let items):
            if items.isEmpty {
                var out: [UInt8] = []
                RPCFrame.error(id: .null, .invalidRequest("an empty batch is not a request"), into: &out)
                write(context, out)
                return
            }
            if items.count > maxBatch {
                let e = AtelierError(
                    .batchTooLarge, "a batch may hold at most \(maxBatch) requests, this one holds \(items.count); split it",
                    field: "", details: ["limit": .int(Int64(maxBatch)), "count": .int(Int64(items.count))])
                var out: [UInt8] = []
                RPCFrame.error(id: .null, RPCError(code: RPCErrorCode.invalidRequest, message: e.message, data: e.json), into: &out)
                write(context, out)
                return
            }
            handleBatch(context, items)
        default:
            handleSingle(context, parsed)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let e = error as? FrameTooLargeError {
            var out: [UInt8] = []
            RPCFrame.error(
                id: .null,
                RPCError(
                    AtelierError(.frameTooLarge, "frame exceeds \(e.limit) bytes; closing the connection", details: ["limit": .int(Int64(e.limit))])),
                into: &out)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: out))).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.close(promise: nil)
    }

    // MARK: -

    private func write(_ context: ChannelHandlerContext, _ bytes: [UInt8]) {
        context.write(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
    }

    /// What becomes of one request of a frame (a single request or a batch member) before it runs.
    private enum Admission {
        /// Answered at once: an envelope error (an invalid request, an unknown method), without the line end; nil
        /// when it gets no answer (an unknown method called as a notification).
        case answered([UInt8]?)
        /// A valid request for a known method: to be run.
        case run(RPCRequest)
    }

    /// Validates one request's envelope and its method name.
    private static func admit(_ value: JSONValue) -> Admission {
        switch RPCRequest.validate(value) {
        case .failure(let e):
            var out: [UInt8] = []
            RPCFrame.errorObject(id: e.id, e.error, into: &out)
            return .answered(out)
        case .success(let request):
            guard RPCDispatcher.knows(request.method) else {
                guard let id = request.id else { return .answered(nil) }
                var out: [UInt8] = []
                RPCFrame.errorObject(id: id, .methodNotFound(request.method, available: RPCDispatcher.methods), into: &out)
                return .answered(out)
            }
            return .run(request)
        }
    }

    /// Runs an admitted request; its answer without the line end, or nil for a notification.
    private static func run(_ request: RPCRequest, _ dispatcher: RPCDispatcher, _ state: ConnectionState?) async -> [UInt8]? {
        let outcome = await dispatcher.handle(request, connection: state)
        guard let id = request.id else { return nil }
        var out: [UInt8] = []
        RPCFrame.responseObject(id: id, outcome, into: &out)
        return out
    }

    private func handleSingle(_ context: ChannelHandlerContext, _ value: JSONValue) {
        let request: RPCRequest
        switch Self.admit(value) {
        case .answered(let answer):
            if var line = answer {
                line.append(0x0A)
                write(context, line)
            }
            return
        case .run(let r):
            request = r
        }
        if let fast = fastPath(request) {
            write(context, fast)
            return
        }
        startAsync(context) { dispatcher, state in
            guard var line = await Self.run(request, dispatcher, state) else { return nil }
            line.append(0x0A)
            return line
        }
    }

    /// `job.get` for a cached job is answered without leaving the event loop.
    private func fastPath(_ request: RPCRequest) -> [UInt8]? {
        guard request.method == RPCMethod.jobGet, let id = request.id, case .object(let p)? = request.params, p.count == 1,
            case .string(let raw)? = p["taskUUID"], let uuid = UUIDv4.canonical(raw), let encoded = dispatcher.engine.cache.encoded(uuid)
        else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count + 48)
        RPCFrame.result(id: id, encoded: encoded, into: &out)
        return out
    }

    /// Runs a batch as one task whose items run at most ``maxInFlight`` at a time; the batch counts as that many
    /// (or as its item count, if smaller) against the connection's in-flight limit. The answer holds the members'
    /// answers in request order, written by the same envelope writer as single answers (``RPCFrame``).
    private func handleBatch(_ context: ChannelHandlerContext, _ items: [JSONValue]) {
        let width = min(items.count, maxInFlight)
        startAsync(context, weight: width) { dispatcher, state in
            var slots = [[UInt8]?](repeating: nil, count: items.count)
            await withTaskGroup(of: (Int, [UInt8]?).self) { group in
                for (i, item) in items.enumerated() {
                    if i >= width, let (j, answer) = await group.next() { slots[j] = answer }
                    group.addTask {
                        switch Self.admit(item) {
                        case .answered(let answer): return (i, answer)
                        case .run(let request): return (i, await Self.run(request, dispatcher, state))
                        }
                    }
                }
                for await (i, answer) in group { slots[i] = answer }
            }
            var out: [UInt8] = []
            RPCFrame.batch(slots.compactMap { $0 }, into: &out)
            return out.isEmpty ? nil : out
        }
    }

    /// Runs `work` as a task and writes its answer on this connection's event loop.
    private func startAsync(
        _ context: ChannelHandlerContext, weight: Int = 1, _ work: @escaping @Sendable (RPCDispatcher, ConnectionState?) async -> [UInt8]?
    ) {
        inFlight += weight
        if inFlight >= maxInFlight && !readingPaused {
            readingPaused = true
            updateReading(context)
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let dispatcher = self.dispatcher
        let state = self.state
        Task {
            let bytes = await work(dispatcher, state)
            loop.execute {
                let (handler, ctx) = bound.value
                if let bytes, ctx.channel.isActive {
                    ctx.writeAndFlush(handler.wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
                }
                handler.requestFinished(ctx, weight: weight)
            }
        }
    }

    private func requestFinished(_ context: ChannelHandlerContext, weight: Int) {
        inFlight -= weight
        if readingPaused && inFlight <= maxInFlight / 2 { readingPaused = false }
        drainBacklog(context)
        // A large frame being parsed, waiting frames, or unflushed answers keep reading paused.
        updateReading(context)
    }
}
