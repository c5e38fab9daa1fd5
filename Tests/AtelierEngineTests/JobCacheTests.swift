import AtelierCore
import AtelierEngine
import Testing

/// The job cache answers `job.get`'s bytes for the latest state it holds, encoding each state once, when first read.
@Suite("job cache")
struct JobCacheTests {
    static func job(_ id: String, _ status: JobStatus) -> Job {
        let task = ImageTask(taskUUID: id, positivePrompt: "a lighthouse", model: "local-render")
        return Job(task: task, status: status, createdAt: Timestamp(milliseconds: 1_000), route: nil)
    }

    @Test func theBytesAreTheLatestStatesEncoding() throws {
        let cache = JobCache()
        let id = UUIDv4.generate()
        #expect(cache.encoded(id) == nil)
        cache.put(Self.job(id, .queued))
        let queued = try #require(cache.encoded(id))
        #expect(try Job(json: JSONParser.parse(queued)).status == .queued)
        #expect(cache.encoded(id) == queued, "read twice, the same bytes")
        // A new state replaces the kept encoding: the next read is the new state's.
        cache.put(Self.job(id, .running))
        let running = try #require(cache.encoded(id))
        #expect(try Job(json: JSONParser.parse(running)).status == .running)
        cache.put(Self.job(id, .succeeded))
        #expect(try Job(json: JSONParser.parse(try #require(cache.encoded(id)))).status == .succeeded)
        #expect(cache.job(id)?.status == .succeeded)
    }

    @Test func finishedJobsBeyondTheCapacityAreDroppedUnfinishedOnesKept() {
        let cache = JobCache(capacity: 2)
        let open = UUIDv4.generate()
        cache.put(Self.job(open, .running))
        let done = (0..<3).map { _ in UUIDv4.generate() }
        for id in done { cache.put(Self.job(id, .succeeded)) }
        #expect(cache.encoded(done[0]) == nil, "the oldest finished job is dropped")
        #expect(cache.encoded(done[2]) != nil)
        #expect(cache.unfinishedIDs() == [open])
    }
}
