import ArgumentParser
import AtelierCore
import AtelierRPC
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `atelier-bench`: load generator for scripts/bench. One client implementation (blocking POSIX sockets, one
/// thread per connection) drives both the echo floor and atelierd, so their numbers compare.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier-bench", abstract: "Measure atelierd round trips, durable submits and routing; prints one JSON object per run.",
        subcommands: [RoundTrip.self, Submit.self, Route.self, Jobs.self])
}

func connectUnix(_ path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
        raw[bytes.count] = 0
    }
    let r = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if r != 0 {
        FileHandle.standardError.write(Data("cannot connect to \(path)\n".utf8))
        Foundation.exit(1)
    }
    return fd
}

/// Sends one line and reads until a newline; returns the line.
final class LineClient {
    let fd: Int32
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    var pending: [UInt8] = []
    init(_ path: String) { fd = connectUnix(path) }
    deinit { close(fd) }

    @inline(__always)
    func roundTrip(_ line: [UInt8]) -> ArraySlice<UInt8> {
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        while true {
            if let nl = pending.firstIndex(of: 0x0A) {
                let out = pending[..<nl]
                pending.removeSubrange(...nl)
                return out
            }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return [] }
            pending.append(contentsOf: buf[..<n])
        }
    }
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) * 1e6 + Double(t.tv_nsec) / 1e3
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func emit(_ o: JSONObject) { print(JSONWriter.string(.object(o))) }

struct RoundTrip: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sequential round trips of one request line.")
    @Option var socket: String
    @Option var label: String
    @Option(help: "The request line (without newline).") var request: String
    @Option var count = 10_000
    @Option var warmup = 1_000

    func run() {
        let c = LineClient(socket)
        let line = Array((request + "\n").utf8)
        for _ in 0..<warmup { _ = c.roundTrip(line) }
        var lat = [Double]()
        lat.reserveCapacity(count)
        var errors = 0
        for _ in 0..<count {
            let t0 = now()
            let r = c.roundTrip(line)
            lat.append(now() - t0)
            if r.isEmpty || r.starts(with: Array(#"{"jsonrpc":"2.0","id":1,"error""#.utf8)) { errors += 1 }
        }
        lat.sort()
        emit([
            "label": .string(label), "mode": "seq", "n": .int(Int64(count)), "p50_us": .number((percentile(lat, 0.5) * 10).rounded() / 10),
            "p99_us": .number((percentile(lat, 0.99) * 10).rounded() / 10), "errors": .int(Int64(errors)),
        ])
    }
}

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Closed-loop job.submit from N connections.")
    @Option var socket: String
    @Option var connections = 1
    @Option var total = 5_000
    @Option var model = "local-render"

    func run() {
        let perConn = total / connections
        let results = Mutex<(lat: [Double], errors: Int)>(([], 0))
        var threads: [Thread] = []
        // A synchronous command on the main thread waiting for plain OS threads: no Swift concurrency here.
        let done = DispatchSemaphore(value: 0)
        let start = now()
        for c in 0..<connections {
            let t = Thread {
                let client = LineClient(socket)
                var mine: [Double] = []
                var errs = 0
                mine.reserveCapacity(perConn)
                for i in 0..<perConn {
                    let req =
                        #"{"jsonrpc":"2.0","id":1,"method":"\#(RPCMethod.jobSubmit)","params":{"positivePrompt":"bench \#(c)-\#(i)","model":"\#(model)","width":64,"height":64,"seed":\#(i + 1)}}"#
                        + "\n"
                    let t0 = now()
                    let r = client.roundTrip(Array(req.utf8))
                    mine.append(now() - t0)
                    if !r.starts(with: Array(#"{"jsonrpc":"2.0","id":1,"result""#.utf8)) { errs += 1 }
                }
                results.withLock {
                    $0.lat += mine
                    $0.errors += errs
                }
                done.signal()
            }
            threads.append(t)
            t.start()
        }
        for _ in 0..<connections { done.wait() }
        let secs = (now() - start) / 1e6
        var (lat, errors) = results.withLock { $0 }
        lat.sort()
        emit([
            "label": "atelierd", "mode": "submit", "connections": .int(Int64(connections)), "n": .int(Int64(lat.count)),
            "jobs_per_s": .number((Double(lat.count) / secs).rounded()), "p50_us": .number(percentile(lat, 0.5).rounded()),
            "p99_us": .number(percentile(lat, 0.99).rounded()), "errors": .int(Int64(errors)),
        ])
    }
}

struct Route: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Router decision latency and simulate throughput (in process).")
    @Option var providers: String
    @Option var routing: String
    @Option var count = 200_000
    @Option(help: "A second policy for the simulate measurement (default: the same one).") var secondRouting: String?

    func run() throws {
        let catalog = try CatalogLoader.load(directory: providers)
        let policy = try RoutingPolicy.load(path: routing, catalog: catalog)
        let router = Router(catalog: catalog, policy: policy)
        let context = RoutingContext()
        let tasks: [ImageTask] = [
            ImageTask(positivePrompt: "a lighthouse", size: .tier(aspectRatio: AspectRatio("16:9"), resolution: .r1K)),
            ImageTask(
                positivePrompt: "SALE banner", size: .tier(aspectRatio: AspectRatio("3:4"), resolution: .r2K),
                requirements: .init(reproducible: false, textRendering: true)),
            ImageTask(
                positivePrompt: "product final", size: .pixels(PixelSize(width: 1024, height: 1024)), seed: 7,
                requirements: .init(reproducible: true), phase: .final),
            ImageTask(positivePrompt: "draft", size: .tier(aspectRatio: nil, resolution: nil), numberResults: 4, phase: .ideation),
        ]
        var lat = [Double]()
        lat.reserveCapacity(count)
        var chosen = 0
        for i in 0..<2000 { if router.decide(tasks[i & 3], context: context).chosen != nil { chosen += 1 } }
        for i in 0..<count {
            let t0 = now()
            let d = router.decide(tasks[i & 3], context: context)
            lat.append(now() - t0)
            if d.chosen != nil { chosen += 1 }
        }
        lat.sort()
        // simulate: 100,000 tasks under two policies (and a baseline), timed end to end.
        let workload = (0..<100_000).map { i -> ImageTask in
            var t = tasks[i & 3]
            t.taskUUID = UUIDv4.derived(from: "bench-\(i)")
            return t
        }
        let second = try RoutingPolicy.load(path: secondRouting ?? routing, catalog: catalog)
        let t0 = now()
        let report = Simulator.run(
            workload: workload, policies: [("a", policy), ("b", second)], catalog: catalog, baselineModel: catalog.models.first?.id)
        let simSeconds = (now() - t0) / 1e6
        emit([
            "label": "router", "mode": "simulate", "tasks": .int(Int64(workload.count)), "policies": 2,
            "seconds": .number((simSeconds * 1000).rounded() / 1000), "routed": .int(Int64(report.policies.first?.routed ?? 0)),
        ])
        emit([
            "label": "router", "mode": "decide", "n": .int(Int64(count)), "p50_us": .number((percentile(lat, 0.5) * 100).rounded() / 100),
            "p99_us": .number((percentile(lat, 0.99) * 100).rounded() / 100), "routed": .int(Int64(chosen)),
        ])
    }
}

/// Closed-loop whole jobs: every connection submits a job pinned to `--model`, waits for it with `job.wait`, and
/// starts the next; after `--warmup` seconds the daemon's CPU time (`/proc/<pid>/stat` utime+stime) and peak RSS are
/// measured over `--duration` seconds and divided by the jobs finished in that window.
struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Closed-loop submit+wait of whole jobs; daemon CPU per job, throughput, RSS.")
    @Option var socket: String
    @Option(help: "atelierd's process id (CPU and RSS are read from /proc).") var pid: Int32
    @Option var label = "atelierd"
    @Option var model: String
    @Option var connections = 16
    @Option var warmup = 2.0
    @Option var duration = 10.0
    @Option(help: "Extra members of every task, as JSON object members (e.g. '\"aspectRatio\":\"1:1\"').") var extra = ""
    @Flag(help: "One request per job: job.submit with waitSeconds instead of job.submit then job.wait.") var oneRequest = false

    func run() throws {
        let phase = Atomic<Int>(0)  // 0 warm-up, 1 measuring, 2 stop
        let counted = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let firstFailure = Mutex<String?>(nil)
        let latencies = Mutex<[Double]>([])
        // A synchronous command on the main thread waiting for plain OS threads: no Swift concurrency here.
        let done = DispatchSemaphore(value: 0)
        let socket = self.socket, model = self.model, extra = self.extra.isEmpty ? "" : "," + self.extra
        let oneRequest = self.oneRequest
        for c in 0..<connections {
            Thread {
                let client = LineClient(socket)
                var mine: [Double] = []
                var i = 0
                while phase.load(ordering: .relaxed) < 2 {
                    i += 1
                    let id = UUIDv4.generate()
                    let waitMember = oneRequest ? #","waitSeconds":120"# : ""
                    let submit =
                        #"{"jsonrpc":"2.0","id":1,"method":"\#(RPCMethod.jobSubmit)","params":{"taskUUID":"\#(id)","positivePrompt":"bench \#(c)-\#(i)","model":"\#(model)"\#(extra)\#(waitMember)}}"#
                        + "\n"
                    let wait =
                        #"{"jsonrpc":"2.0","id":2,"method":"\#(RPCMethod.jobWait)","params":{"taskUUID":"\#(id)","timeoutSeconds":120}}"# + "\n"
                    let t0 = now()
                    let measuring = phase.load(ordering: .relaxed) == 1
                    let a = client.roundTrip(Array(submit.utf8))
                    let b = oneRequest ? a : client.roundTrip(Array(wait.utf8))
                    let ok = !a.isEmpty && String(decoding: b, as: UTF8.self).contains(#""status":"succeeded""#)
                    if !ok {
                        _ = failures.wrappingAdd(1, ordering: .relaxed)
                        let text = String(decoding: b.isEmpty ? a : b, as: UTF8.self)
                        firstFailure.withLock { if $0 == nil { $0 = String(text.prefix(400)) } }
                        if a.isEmpty { break }
                    } else if measuring && phase.load(ordering: .relaxed) == 1 {
                        _ = counted.wrappingAdd(1, ordering: .relaxed)
                        mine.append(now() - t0)
                    }
                }
                latencies.withLock { $0 += mine }
                done.signal()
            }.start()
        }
        Thread.sleep(forTimeInterval: warmup)
        let cpu0 = cpuTicks(pid)
        let t0 = now()
        phase.store(1, ordering: .relaxed)
        var peakKB = 0
        while now() - t0 < duration * 1e6 {
            peakKB = max(peakKB, rssKB(pid))
            Thread.sleep(forTimeInterval: 0.1)
        }
        let jobs = counted.load(ordering: .relaxed)
        phase.store(2, ordering: .relaxed)
        let cpu1 = cpuTicks(pid)
        let secs = (now() - t0) / 1e6
        for _ in 0..<connections { done.wait() }
        var lat = latencies.withLock { $0 }
        lat.sort()
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpuMS = Double(cpu1 - cpu0) / hz * 1000
        var o: JSONObject = [
            "label": .string(label), "mode": "jobs", "model": .string(model), "connections": .int(Int64(connections)),
            "jobs": .int(Int64(jobs)), "seconds": .number((secs * 100).rounded() / 100),
            "jobs_per_s": .number((Double(jobs) / secs * 10).rounded() / 10),
            "cpu_ms_per_job": .number(jobs > 0 ? (cpuMS / Double(jobs) * 1000).rounded() / 1000 : 0),
            "cpu_cores": .number((cpuMS / 1000 / secs * 1000).rounded() / 1000),
            "rss_mb_peak": .number((Double(peakKB) / 1024 * 10).rounded() / 10),
            "p50_ms": .number((percentile(lat, 0.5) / 100).rounded() / 10), "p99_ms": .number((percentile(lat, 0.99) / 100).rounded() / 10),
            "failures": .int(Int64(failures.load(ordering: .relaxed))),
        ]
        if let f = firstFailure.withLock({ $0 }) { o.append("first_failure", .string(f)) }
        emit(o)
    }
}

/// utime + stime of a process (all threads), in clock ticks.
func cpuTicks(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = s.lastIndex(of: ")") else { return 0 }
    let fields = s[s.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let u = Int(fields[11]), let k = Int(fields[12]) else { return 0 }
    return u + k
}

/// Resident set size of a process, in KiB.
func rssKB(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }
    return 0
}
