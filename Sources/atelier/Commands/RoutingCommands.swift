import ArgumentParser
import AtelierClient
import AtelierCore
import AtelierRPC
import Foundation

/// Offline cost experiments: route a workload under several policies without calling anyone.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Route every task of a workload (JSONL, one job.submit task per line) under each policy, offline, and compare costs.")

    @Argument(help: "The workload file (.jsonl).")
    var workload: String
    @Option(name: .customLong("routing"), help: "A routing policy file; repeat to compare several (default: ./routing.json).")
    var policies: [String] = []
    @Option(help: "Compare against everything on this model (e.g. gemini-3-pro-image).")
    var baseline: String?
    @Option(help: "Directory of provider files (env ATELIER_PROVIDERS; default ./providers).")
    var providers: String?
    @Flag(help: "Print JSON.")
    var json = false
    @Flag(help: "Print CSV.")
    var csv = false

    func run() throws {
        let catalog: Catalog
        do { catalog = try CatalogLoader.load(directory: providers ?? DefaultPaths.providers()) } catch {
            FileHandle.standardError.write(Data("error: providers:\n\(error.description)\n".utf8))
            throw ExitCode(1)
        }
        let files = policies.isEmpty ? [DefaultPaths.routing()] : policies
        var loaded: [(name: String, policy: RoutingPolicy)] = []
        for f in files {
            do { loaded.append(((f as NSString).lastPathComponent, try RoutingPolicy.load(path: f, catalog: catalog))) } catch {
                FileHandle.standardError.write(Data("error: \(f) is invalid:\n\(error.description)\n".utf8))
                throw ExitCode(1)
            }
        }
        let tasks: [ImageTask]
        do { tasks = try Workload.load(path: workload) } catch {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        if let b = baseline, catalog.model(b) == nil {
            throw ValidationError("--baseline \(b) is not a model in the catalog")
        }
        let report = Simulator.run(workload: tasks, policies: loaded, catalog: catalog, baselineModel: baseline)
        if json {
            print(JSONWriter.pretty(report.json))
        } else if csv {
            print(report.csv, terminator: report.csv.hasSuffix("\n") ? "" : "\n")
        } else {
            print(report.table)
        }
        if report.policies.contains(where: { $0.violations > 0 }) { throw ExitCode(2) }
    }
}

/// `atelier routing check FILE`.
struct Routing: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing", abstract: "Routing policy tools.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a routing policy (and the provider files) without touching the daemon; prints every problem.")
        @Argument(help: "The routing policy file.")
        var file: String
        @Option(help: "Directory of provider files (env ATELIER_PROVIDERS; default ./providers).")
        var providers: String?
        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            do {
                let catalog = try CatalogLoader.load(directory: providers ?? DefaultPaths.providers())
                let policy = try RoutingPolicy.load(path: file, catalog: catalog)
                if json {
                    print(
                        JSONWriter.pretty([
                            "valid": true, "rules": .array(policy.ruleNames.map(JSONValue.string)), "models": .int(Int64(catalog.models.count)),
                        ]))
                } else {
                    print("\(file): valid (\(policy.ruleNames.count) rules over \(catalog.models.count) models)")
                }
            } catch {
                if json {
                    print(JSONWriter.pretty(["valid": false, "issues": .array(error.issues.map(\.json))]))
                } else {
                    FileHandle.standardError.write(
                        Data("\(file): \(error.issues.count) problem\(error.issues.count == 1 ? "" : "s")\n\(error.description)\n".utf8))
                }
                throw ExitCode(1)
            }
        }
    }
}

/// `atelier reload`: ask the daemon to re-read and swap its configuration.
struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the daemon re-read providers and routing (like SIGHUP), validating first.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        do {
            let (r, answer) = try await global.withClient { try await $0.reloadConfiguration() }
            if global.json {
                print(JSONWriter.pretty(answer))
            } else {
                print("reloaded: \(r.models) models (\(r.available) available), \(r.rules) rules")
            }
        } catch let e as RPCError where e.stableCode == ErrorCode.configInvalid.rawValue {
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            for issue in e.data?["issues"]?.arrayValue ?? [] {
                let hint = issue["hint"]?.stringValue.map { " (hint: \($0))" } ?? ""
                FileHandle.standardError.write(
                    Data(
                        "  \(issue["file"]?.stringValue ?? "?"):\(issue["pointer"]?.stringValue ?? ""): \(issue["message"]?.stringValue ?? "")\(hint)\n"
                            .utf8))
            }
            throw ExitCode(1)
        } catch { throw Output.fail(error) }
    }
}

/// `atelier stats --by model|provider|arm|tag:NAME`.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Jobs, success rate, refusals, actual cost and latency per group; spend against budgets.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Group by model, provider, arm, or tag:NAME.")
    var by: String = "model"
    @Option(name: .customLong("since-hours"), help: "Look back this many hours.")
    var sinceHours: Double = 24

    func run() async throws {
        do {
            let (report, answer) = try await global.withClient { try await $0.stats(by: by, sinceHours: sinceHours) }
            if global.json {
                print(JSONWriter.pretty(answer))
                return
            }
            print(
                Output.table([by.uppercased(), "JOBS", "SUCCESS", "REFUSALS", "MISMATCHES", "COST", "P50 S", "P95 S"], report.groups.map(Self.row)))
            if !report.budgets.isEmpty {
                print("\nbudgets:")
                print(Output.table(["TAG", "VALUE", "PERIOD", "CAP", "SPENT", "LEFT"], report.budgets.map(Self.budgetRow)))
            }
        } catch { throw Output.fail(error) }
    }
}

extension Stats {
    /// Seconds as the daemon writes them (`1.5`), or `-` when unknown.
    static func seconds(_ s: Double?) -> String { s.map { JSONValue.number($0).description } ?? "-" }

    static func row(_ g: StatsReport.Group) -> [String] {
        let rate = g.successRate.map { String(format: "%.0f%%", $0 * 100) } ?? "-"
        return [
            g.group, String(g.jobs), rate, String(g.refusals), String(g.mismatches), Output.usd(g.costUSD), seconds(g.latencyP50Seconds),
            seconds(g.latencyP95Seconds),
        ]
    }

    static func budgetRow(_ b: StatsReport.BudgetSpend) -> [String] {
        [b.tag, b.value, b.period.rawValue, Output.usd(b.capUSD), Output.usd(b.spentUSD), Output.usd(b.remainingUSD)]
    }
}

extension Atelier {
    /// Routing, experiments, statistics and configuration.
    static let routingCommands: [any ParsableCommand.Type] = [Simulate.self, Routing.self, Reload.self, Stats.self]
}
