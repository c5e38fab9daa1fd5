import ArgumentParser
import AtelierClient
import AtelierCore
import AtelierRPC
import Foundation

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
    @Option(help: "Submit the task of a recipe (from `atelier recipe`) instead of a prompt; with --wait, says whether the images match.")
    var recipe: String?

    func run() async throws {
        do {
            let params = try RecipeFile.submitParams(recipe: recipe, task: task)
            let job = try await global.withClient { client in
                let job = try await client.submit(params)
                guard wait || out != nil else { return job }
                if !global.json { FileHandle.standardError.write(Data("submitted \(job.taskUUID) → \(job.route?.model ?? "?")\n".utf8)) }
                return try await waitWithProgress(client, job.taskUUID, timeout: timeout, quiet: global.json)
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
            RecipeFile.report(job, recipe: recipe, quiet: global.json)
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
            let job = try await global.withClient { try await $0.job(taskUUID) }
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
            let job = try await global.withClient { try await waitWithProgress($0, taskUUID, timeout: timeout, quiet: global.json) }
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
            let job = try await global.withClient { try await $0.cancel(taskUUID) }
            if global.json { Output.printJSON(job.json) } else { print(Output.describe(job)) }
        } catch { throw Output.fail(error) }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only jobs with this status.") var status: String?
    @OptionGroup var page: PageOptions

    /// The jobs table.
    static let table = ListTable<Job>(
        key: "jobs", command: "atelier list", header: ["TASK UUID", "STATUS", "MODEL", "CREATED", "COST", "IMAGES"],
        row: { j in
            [j.taskUUID, j.status.rawValue, j.route?.model ?? "-", j.createdAt.iso8601, Output.usd(j.costUSD), String(j.results.count)]
        }, json: \.json)

    func run() async throws {
        do {
            let status: JobStatus? = try OptionValues.choice("--status", self.status)
            let found = try await global.withClient { try await $0.list(status: status, limit: page.limit, cursor: page.cursor) }
            Self.table.print(found.jobs, nextCursor: found.nextCursor, json: global.json)
        } catch { throw Output.fail(error) }
    }
}

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the catalog with availability, grades and prices.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        do {
            let models = try await global.withClient { try await $0.models() }
            if global.json {
                Output.printJSON(.array(models.map(\.json)))
                return
            }
            let rows = models.map { m -> [String] in
                [
                    m.id, m.provider, m.status, m.isAvailable ? "yes" : "no (\(m.unavailableReason ?? "?"))", m.seedHonored ? "yes" : "no",
                    String(m.textRendering), String(m.quality), m.tiers.joined(separator: ","), m.priceKind,
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
            let params = try task.json()
            let r = try await global.withClient { try await $0.explain(params) }
            if global.json {
                Output.printJSON(r.json)
                return
            }
            if let chosen = r.chosen {
                print("chosen: \(chosen.model) (\(chosen.provider))  estimate \(Output.usd(chosen.estimatedCostUSD))")
            } else {
                print("chosen: none — \(r.errorMessage ?? "no model can serve this task")")
            }
            if let arm = r.arm { print("arm: \(arm)") }
            for reason in r.reasons { print("  · \(reason)") }
            let alts = r.alternatives.enumerated().map { i, a in ["\(i + 1)", a.model, a.provider, Output.usd(a.estimatedCostUSD)] }
            if !alts.isEmpty {
                print("\nranked:")
                print(Output.table(["#", "MODEL", "PROVIDER", "ESTIMATE"], alts))
            }
            let rej = r.rejected.map { x in [x.model, [x.reason, x.detail ?? ""].filter { !$0.isEmpty }.joined(separator: ": ")] }
            if !rej.isEmpty {
                print("\nrejected:")
                print(Output.table(["MODEL", "REASON"], rej))
            }
        } catch { throw Output.fail(error) }
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's health.",
        discussion:
            "Exits 0 when the daemon is ok, 2 when it answers but is degraded (the reasons are printed), 3 when it is not running, 1 on other errors."
    )
    @OptionGroup var global: GlobalOptions

    /// The exit status for a degraded daemon.
    static let degradedExitCode: Int32 = 2

    func run() async throws {
        let h: DaemonHealth
        do {
            h = try await global.withClient { try await $0.health() }
        } catch { throw Output.fail(error) }
        if global.json {
            Output.printJSON(h.json)
        } else {
            print(Self.render(h))
        }
        if !h.isOK { throw ExitCode(Self.degradedExitCode) }
    }

    /// The human-readable report: a summary line, then why it is degraded, the store, breakers and delivery.
    static func render(_ h: DaemonHealth) -> String {
        var lines = [
            "atelierd \(h.version): \(h.status), up \(JSONValue.number(h.uptimeSeconds).description)s, \(h.queued) queued, \(h.running) running"
                + (h.draining ? ", draining" : "")
        ]
        for r in h.reasons { lines.append("  degraded: \(r)") }
        let kind = h.store.kind.map { " (\($0))" } ?? ""
        if h.store.ok {
            lines.append("  store: ok\(kind)")
        } else {
            lines.append("  store\(kind): FAILING since \(h.store.since ?? "?"): \(h.store.error ?? "?")")
        }
        if let c = h.cluster {
            lines.append("  daemon: \(c.daemon)")
            if let others = c.daemons {
                if others.isEmpty { lines.append("  other daemons: none live") }
                for d in others { lines.append("  other daemon: \(d.id), last heartbeat \(d.lastSeen), up since \(d.startedAt)") }
            } else {
                lines.append("  other daemons: unknown (the store could not be read)")
            }
        }
        for b in h.breakers { lines.append("  breaker open: \(b.model) (\(b.reason))") }
        if let d = h.delivery { lines.append("  delivery: \(d.open) open, \(d.due) due, \(d.overdue) overdue") }
        return lines.joined(separator: "\n")
    }
}
