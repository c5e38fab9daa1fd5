import ArgumentParser
import AtelierClient
import AtelierCore
import AtelierRPC
import Foundation

/// `atelier`: the command-line client of atelierd.
@main
struct Atelier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier",
        abstract: "Submit and inspect image-generation jobs on a running atelierd.",
        subcommands: [Submit.self, Get.self, Wait.self, Cancel.self, List.self, Models.self, Explain.self, Health.self])
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Socket path (env ATELIER_SOCKET).")
    var socket: String?

    @Flag(help: "Print JSON for scripts instead of human output.")
    var json = false

    func connect() async throws -> AtelierClient {
        try await AtelierClient.connect(socketPath: socket ?? DefaultPaths.socket())
    }
}

/// The task fields, shared by `submit` and `explain`.
struct TaskOptions: ParsableArguments {
    @Argument(help: "The prompt (positivePrompt).")
    var prompt: String

    @Option(name: .customLong("negative"), help: "negativePrompt.")
    var negativePrompt: String?
    @Option(help: "A catalog model id, or auto.")
    var model: String = "auto"
    @Option(help: "Width in pixels (with --height).")
    var width: Int?
    @Option(help: "Height in pixels (with --width).")
    var height: Int?
    @Option(name: .customLong("aspect-ratio"), help: "Aspect ratio such as 16:9 (instead of width/height).")
    var aspectRatio: String?
    @Option(help: "Resolution tier: 512, 1K, 2K or 4K.")
    var resolution: String?
    @Option(help: "Seed.")
    var seed: Int64?
    @Option(name: [.customShort("n"), .customLong("number-results")], help: "How many images.")
    var numberResults: Int = 1
    @Option(name: .customLong("reference"), help: "A reference image (path, file:// or http(s) URL, data URI). Repeatable.")
    var references: [String] = []
    @Option(help: "Output format: PNG, JPG or WEBP.")
    var format: String?
    @Flag(help: "Require exact reproducibility from the seed.")
    var reproducible = false
    @Flag(name: .customLong("text-rendering"), help: "The image contains text that must be rendered accurately.")
    var textRendering = false
    @Option(name: .customLong("max-cost"), help: "Most the task may cost, in USD.")
    var maxCost: Double?
    @Option(help: "ideation or final.")
    var phase: String?
    @Option(name: .customLong("tag"), help: "A tag as key=value. Repeatable.")
    var tags: [String] = []
    @Option(name: .customLong("webhook-url"), help: "Where to POST signed events.")
    var webhookURL: String?
    @Option(name: .customLong("upload-endpoint"), help: "Where to PUT each image (one per result). Repeatable.")
    var uploadEndpoints: [String] = []
    @Option(name: .customLong("task-uuid"), help: "Your own taskUUID (UUID v4) for idempotent resubmission.")
    var taskUUID: String?

    /// The task as JSON-RPC params. Relative reference paths are made absolute (the daemon has its own cwd).
    func json() throws -> JSONValue {
        var o = JSONObject()
        o.append("taskUUID", ifPresent: taskUUID.map(JSONValue.string))
        o.append("positivePrompt", .string(prompt))
        o.append("negativePrompt", ifPresent: negativePrompt.map(JSONValue.string))
        o.append("model", .string(model))
        o.append("width", ifPresent: width.map { .int(Int64($0)) })
        o.append("height", ifPresent: height.map { .int(Int64($0)) })
        o.append("aspectRatio", ifPresent: aspectRatio.map(JSONValue.string))
        o.append("resolution", ifPresent: resolution.map(JSONValue.string))
        o.append("seed", ifPresent: seed.map(JSONValue.int))
        o.append("numberResults", .int(Int64(numberResults)))
        if !references.isEmpty {
            let cwd = FileManager.default.currentDirectoryPath
            o.append(
                "referenceImages",
                .array(
                    references.map { r in
                        let lower = r.lowercased()
                        if lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("data:") || lower.hasPrefix("file://")
                            || r.hasPrefix("/")
                        {
                            return .string(r)
                        }
                        return .string((cwd as NSString).appendingPathComponent(r))
                    }))
        }
        o.append("outputFormat", ifPresent: format.map(JSONValue.string))
        var req = JSONObject()
        if reproducible { req.append("reproducible", true) }
        if textRendering { req.append("textRendering", true) }
        req.append("maxCostUSD", ifPresent: maxCost.map(JSONValue.number))
        if !req.isEmpty { o.append("requirements", .object(req)) }
        o.append("phase", ifPresent: phase.map(JSONValue.string))
        if !tags.isEmpty {
            var t = JSONObject()
            for tag in tags {
                guard let eq = tag.firstIndex(of: "=") else { throw ValidationError("--tag must be key=value, not '\(tag)'") }
                t.append(String(tag[..<eq]), .string(String(tag[tag.index(after: eq)...])))
            }
            o.append("tags", .object(t))
        }
        o.append("webhookURL", ifPresent: webhookURL.map(JSONValue.string))
        if uploadEndpoints.count == 1 {
            o.append("uploadEndpoint", .string(uploadEndpoints[0]))
        } else if uploadEndpoints.count > 1 {
            o.append("uploadEndpoint", .array(uploadEndpoints.map(JSONValue.string)))
        }
        return .object(o)
    }
}

// MARK: - Output helpers

enum Output {
    static func printJSON(_ v: JSONValue) { print(JSONWriter.pretty(v)) }

    static func usd(_ d: Double?) -> String {
        guard let d else { return "-" }
        return String(format: "$%.4f", d)
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    static func describe(_ job: Job) -> String {
        var lines = ["job \(job.taskUUID): \(job.status.rawValue)"]
        if let r = job.route {
            lines.append("  model    \(r.model) (\(r.provider))\(r.arm.map { ", arm \($0)" } ?? "")  estimate \(usd(r.estimatedCostUSD))")
        }
        if let c = job.costUSD { lines.append("  cost     \(usd(c))") }
        for r in job.results {
            let seed = r.seedHonored ? "seed \(r.seed.map(String.init) ?? "-")" : "seed not honoured"
            lines.append("  image    \(r.path)  \(r.width)x\(r.height)  \(r.bytes) bytes  \(seed)  sha256 \(r.sha256.prefix(16))…")
        }
        if let e = job.error, job.status != .succeeded { lines.append("  error    \(e.code): \(e.message)") }
        if job.attempts.count > 1 {
            for a in job.attempts {
                lines.append("  attempt  #\(a.number) \(a.model) \(a.outcome.rawValue)\(a.error.map { " (\($0.code))" } ?? "")")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Prints an error the way a person wants to read it, and exits non-zero.
    static func fail(_ error: any Error) -> ExitCode {
        switch error {
        case AtelierClientError.daemonNotRunning(let p):
            FileHandle.standardError.write(Data("error: atelierd is not running on \(p)\n  start it with: atelierd --socket \(p)\n".utf8))
            return ExitCode(3)
        case AtelierClientError.rpc(let e):
            var msg = "error: \(e.message)"
            if let c = e.stableCode { msg += " [\(c)]" }
            if let f = e.field, !f.isEmpty { msg += " at \(f)" }
            if let nearest = e.data?["nearest"]?.arrayValue { msg += "\n  nearest valid: " + nearest.compactMap(\.stringValue).joined(separator: ", ") }
            if let allowed = e.data?["allowed"]?.arrayValue { msg += "\n  allowed: " + allowed.map { $0.stringValue ?? $0.description }.joined(separator: ", ") }
            if case .object(let rej)? = e.data?["rejections"] {
                for (m, why) in rej { msg += "\n  \(m): \(why.stringValue ?? why.description)" }
            }
            FileHandle.standardError.write(Data((msg + "\n").utf8))
            return ExitCode(1)
        case let e as ValidationError:
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            return ExitCode(2)
        default:
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return ExitCode(1)
        }
    }
}

/// Waits for a job with a progress line on a terminal (plain status lines otherwise).
func waitWithProgress(_ client: AtelierClient, _ taskUUID: String, timeout: Double, quiet: Bool) async throws -> Job {
    let tty = isatty(STDERR_FILENO) == 1 && !quiet
    let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
    let start = Date()
    var lastStatus = ""
    var i = 0
    while true {
        let elapsed = Date().timeIntervalSince(start)
        let left = timeout - elapsed
        let job = try await client.wait(taskUUID, timeoutSeconds: max(0, min(tty ? 0.2 : 2, left)))
        if job.status.rawValue != lastStatus && !quiet && !tty {
            FileHandle.standardError.write(Data("\(job.status.rawValue)\n".utf8))
        }
        lastStatus = job.status.rawValue
        if tty {
            let model = job.route?.model ?? "-"
            let line = job.status.isTerminal ? "" : "\(frames[i % frames.count]) \(job.status.rawValue) on \(model)  \(String(format: "%.1f", elapsed))s"
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
            i += 1
        }
        if job.status.isTerminal || left <= 0 {
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            return job
        }
    }
}

// MARK: - Subcommands

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Submit a task; optionally wait for it and copy the image.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var task: TaskOptions
    @Flag(help: "Wait until the job finishes.")
    var wait = false
    @Option(help: "Seconds to wait at most.")
    var timeout: Double = 600
    @Option(help: "Copy the image to this file (with several images: FILE-1.ext, FILE-2.ext, …). Implies --wait.")
    var out: String?

    func run() async throws {
        do {
            let client = try await global.connect()
            defer { Task { try? await client.close() } }
            var job = try await client.submit(try task.json())
            if wait || out != nil {
                if !global.json { FileHandle.standardError.write(Data("submitted \(job.taskUUID) → \(job.route?.model ?? "?")\n".utf8)) }
                job = try await waitWithProgress(client, job.taskUUID, timeout: timeout, quiet: global.json)
            }
            if let out, job.status == .succeeded {
                for (i, r) in job.results.enumerated() {
                    var dest = out
                    if job.results.count > 1 {
                        let ext = (out as NSString).pathExtension
                        let stem = (out as NSString).deletingPathExtension
                        dest = "\(stem)-\(i + 1)" + (ext.isEmpty ? "" : ".\(ext)")
                    }
                    if FileManager.default.fileExists(atPath: dest) { try FileManager.default.removeItem(atPath: dest) }
                    try FileManager.default.copyItem(atPath: r.path, toPath: dest)
                    if !global.json { print("wrote \(dest)") }
                }
            }
            if global.json { Output.printJSON(job.json) } else { print(Output.describe(job)) }
            if job.status == .failed || job.status == .cancelled { throw ExitCode(1) }
        } catch let e as ExitCode { throw e } catch { throw Output.fail(error) }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a job.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The taskUUID.") var taskUUID: String

    func run() async throws {
        do {
            let client = try await global.connect()
            let job = try await client.job(taskUUID)
            try? await client.close()
            if global.json { Output.printJSON(job.json) } else { print(Output.describe(job)) }
        } catch { throw Output.fail(error) }
    }
}

struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Wait for a job to finish.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The taskUUID.") var taskUUID: String
    @Option(help: "Seconds to wait at most.") var timeout: Double = 600

    func run() async throws {
        do {
            let client = try await global.connect()
            let job = try await waitWithProgress(client, taskUUID, timeout: timeout, quiet: global.json)
            try? await client.close()
            if global.json { Output.printJSON(job.json) } else { print(Output.describe(job)) }
            if !job.status.isTerminal { throw ExitCode(124) }
        } catch let e as ExitCode { throw e } catch { throw Output.fail(error) }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a job.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The taskUUID.") var taskUUID: String

    func run() async throws {
        do {
            let client = try await global.connect()
            let job = try await client.cancel(taskUUID)
            try? await client.close()
            if global.json { Output.printJSON(job.json) } else { print(Output.describe(job)) }
        } catch { throw Output.fail(error) }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only jobs with this status.") var status: String?
    @Option(help: "How many.") var limit: Int = 20
    @Option(help: "Continue after this cursor (from a previous page).") var cursor: String?

    func run() async throws {
        do {
            let client = try await global.connect()
            var p: JSONObject = ["limit": .int(Int64(limit))]
            p.append("status", ifPresent: status.map(JSONValue.string))
            p.append("cursor", ifPresent: cursor.map(JSONValue.string))
            let r = try await client.call(RPCMethod.jobList, params: .object(p))
            try? await client.close()
            if global.json {
                Output.printJSON(r)
                return
            }
            var rows: [[String]] = []
            for v in r["jobs"]?.arrayValue ?? [] {
                let j = try Job(json: v)
                rows.append([
                    j.taskUUID, j.status.rawValue, j.route?.model ?? "-", j.createdAt.iso8601, Output.usd(j.costUSD), String(j.results.count),
                ])
            }
            print(Output.table(["TASK UUID", "STATUS", "MODEL", "CREATED", "COST", "IMAGES"], rows))
            if let next = r["nextCursor"]?.stringValue { print("more: atelier list --cursor \(next)") }
        } catch { throw Output.fail(error) }
    }
}

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the catalog with availability, grades and prices.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        do {
            let client = try await global.connect()
            let models = try await client.models()
            try? await client.close()
            if global.json {
                Output.printJSON(.array(models))
                return
            }
            let rows = models.map { m -> [String] in
                [
                    m["id"]?.stringValue ?? "", m["provider"]?.stringValue ?? "", m["status"]?.stringValue ?? "",
                    m["available"]?.boolValue == true ? "yes" : "no (\(m["unavailableReason"]?.stringValue ?? "?"))",
                    m["seedHonored"]?.boolValue == true ? "yes" : "no", m["textRendering"]?.description ?? "", m["quality"]?.description ?? "",
                    (m["tiers"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ","), m["price"]?["kind"]?.stringValue ?? "",
                ]
            }
            print(Output.table(["MODEL", "PROVIDER", "STATUS", "AVAILABLE", "SEED", "TEXT", "QUALITY", "TIERS", "PRICE"], rows))
        } catch { throw Output.fail(error) }
    }
}

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show how a task would be routed, without running it.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var task: TaskOptions

    func run() async throws {
        do {
            let client = try await global.connect()
            let r = try await client.explain(try task.json())
            try? await client.close()
            if global.json {
                Output.printJSON(r)
                return
            }
            if let chosen = r["chosen"], !chosen.isNull {
                print("chosen: \(chosen["model"]?.stringValue ?? "?") (\(chosen["provider"]?.stringValue ?? "?"))  estimate \(Output.usd(chosen["estimatedCostUSD"]?.doubleValue))")
            } else {
                print("chosen: none — \(r["error"]?["message"]?.stringValue ?? "no model can serve this task")")
            }
            if let arm = r["arm"]?.stringValue { print("arm: \(arm)") }
            for reason in r["reasons"]?.arrayValue ?? [] { print("  · \(reason.stringValue ?? "")") }
            let alts = (r["alternatives"]?.arrayValue ?? []).enumerated().map { i, a in
                ["\(i + 1)", a["model"]?.stringValue ?? "", a["provider"]?.stringValue ?? "", Output.usd(a["estimatedCostUSD"]?.doubleValue)]
            }
            if !alts.isEmpty {
                print("\nranked:")
                print(Output.table(["#", "MODEL", "PROVIDER", "ESTIMATE"], alts))
            }
            let rej = (r["rejected"]?.arrayValue ?? []).map { x in
                [x["model"]?.stringValue ?? "", [x["reason"]?.stringValue, x["detail"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")]
            }
            if !rej.isEmpty {
                print("\nrejected:")
                print(Output.table(["MODEL", "REASON"], rej))
            }
        } catch { throw Output.fail(error) }
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's health.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        do {
            let client = try await global.connect()
            let h = try await client.health()
            try? await client.close()
            if global.json {
                Output.printJSON(h)
            } else {
                print(
                    "atelierd \(h["version"]?.stringValue ?? "?"): \(h["status"]?.stringValue ?? "?"), up \(h["uptimeSeconds"]?.description ?? "?")s, "
                        + "\(h["queued"]?.description ?? "?") queued, \(h["running"]?.description ?? "?") running")
            }
        } catch { throw Output.fail(error) }
    }
}
