import ArgumentParser
import AtelierClient
import AtelierCore
import Foundation

extension Atelier {
    /// Workflows, recipes and reproduction.
    static let workflowCommands: [any ParsableCommand.Type] = [Ideate.self, Reproduce.self, RecipeCommand.self, WorkflowCommand.self]
}

struct WorkflowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow", abstract: "Inspect and drive workflows.",
        subcommands: [Show.self, WaitFor.self, Select.self, CancelWorkflow.self, ListWorkflows.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a workflow.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The workflowUUID.") var workflowUUID: String

        func run() async throws {
            do {
                let w = try await global.withClient { try await $0.workflow(workflowUUID) }
                WorkflowText.print(w, json: global.json, withRecipe: false)
            } catch { throw Output.fail(error) }
        }
    }

    struct WaitFor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "wait", abstract: "Wait until a workflow awaits a selection or is finished.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The workflowUUID.") var workflowUUID: String
        @Option(help: "Seconds to wait at most.") var timeout: Double = 600

        func run() async throws {
            do {
                let w = try await global.withClient { client in
                    let deadline = Date().addingTimeInterval(timeout)
                    let w = try await client.workflow(workflowUUID)
                    return try await WorkflowProgress(quiet: global.json).follow(client, w, until: { $0.isResting }, deadline: deadline)
                }
                WorkflowText.print(w, json: global.json, withRecipe: true)
                if !w.state.isResting { throw ExitCode(124) }
            } catch let e as ExitCode { throw e } catch { throw Output.fail(error) }
        }
    }

    struct Select: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Choose the variant to finish (its number, or its imageUUID).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The workflowUUID.") var workflowUUID: String
        @Argument(help: "The variant: 1-based number, or the image's imageUUID.") var variant: String

        func run() async throws {
            do {
                let w = try await global.withClient { client in
                    var image = variant
                    if let n = Int(variant) {
                        let vs = try await client.workflow(workflowUUID).variants
                        guard n >= 1, n <= vs.count, let id = vs[n - 1].imageUUID else { throw ValidationError("variant \(n) has no image (yet)") }
                        image = id
                    }
                    return try await client.selectVariant(workflowUUID, imageUUID: image)
                }
                WorkflowText.print(w, json: global.json, withRecipe: false)
            } catch { throw Output.fail(error) }
        }
    }

    struct CancelWorkflow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a workflow and its unfinished jobs.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The workflowUUID.") var workflowUUID: String

        func run() async throws {
            do {
                let w = try await global.withClient { try await $0.cancelWorkflow(workflowUUID) }
                WorkflowText.print(w, json: global.json, withRecipe: false)
            } catch { throw Output.fail(error) }
        }
    }

    struct ListWorkflows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List workflows, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only workflows in this state.") var state: String?
        @OptionGroup var page: PageOptions

        /// The workflows table.
        static let table = ListTable<WorkflowSummary>(
            key: "workflows", command: "atelier workflow list", header: ["WORKFLOW UUID", "STATE", "CREATED", "VARIANTS", "COST", "PROMPT"],
            row: { w in
                [
                    w.workflowUUID, w.state.rawValue, w.createdAt, "\(w.succeededVariants)/\(w.variants)", Output.usd(w.totalUSD),
                    String(w.positivePrompt.prefix(40)),
                ]
            }, json: \.json)

        func run() async throws {
            do {
                let state: WorkflowState? = try OptionValues.choice("--state", self.state)
                let found = try await global.withClient { try await $0.workflows(state: state, limit: page.limit, cursor: page.cursor) }
                Self.table.print(found.workflows, nextCursor: found.nextCursor, json: global.json)
            } catch { throw Output.fail(error) }
        }
    }
}

/// Printing workflow documents.
enum WorkflowText {
    /// Prints the workflow: its document with --json, else ``describe(_:withRecipe:)``.
    static func print(_ w: WorkflowDocument, json: Bool, withRecipe: Bool) {
        if json { Output.printJSON(w.json) } else { Swift.print(describe(w, withRecipe: withRecipe)) }
    }

    static func describe(_ w: WorkflowDocument, withRecipe: Bool) -> String {
        var lines = ["workflow \(w.workflowUUID): \(w.state.rawValue)"]
        for (i, v) in w.variants.enumerated() {
            lines.append("  variant \(i + 1)  \(v.status)  \(v.model ?? "-")" + (v.path.map { "  \($0)" } ?? ""))
        }
        if let sel = w.selection {
            lines.append("  selected variant \((sel.variantIndex ?? 0) + 1) (\(sel.imageUUID)) by \(sel.selectedBy ?? "?")")
        }
        let f = w.final
        lines.append("  final    \(f.status)  \(f.model ?? "-")  seed \(f.seed.map(String.init) ?? "-")")
        if let img = f.image {
            lines.append("  path     \(img.path)")
            lines.append("  image    \(img.width ?? 0)x\(img.height ?? 0)  sha256 \(img.sha256 ?? "")")
        }
        if withRecipe, let r = f.recipe {
            lines.append("  recipe")
            lines.append(JSONWriter.pretty(r).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        }
        if let c = w.cost {
            let n = w.variants.count
            lines.append(
                "  cost     ideation \(Output.usd(c.ideationUSD)) (\(n) variant\(n == 1 ? "" : "s"))"
                    + "  final \(Output.usd(c.finalUSD))  total \(Output.usd(c.totalUSD))")
            if let model = c.baselineModel {
                var line = "           all on \(model): \(Output.usd(c.baselineUSD))"
                if let s = c.savingsUSD {
                    line += s >= 0 ? "  → the hybrid saves \(Output.usd(s))" : "  → the hybrid costs \(Output.usd(-s)) more"
                    if let p = c.savingsPercent { line += String(format: " (%.1f%%)", abs(p)) }
                }
                lines.append(line)
            }
        }
        if let e = w.error {
            lines.append("  error    \(e.code): \(e.message)")
            for r in e.rejections { lines.append("           \(r.model): \(r.reason)") }
        }
        return lines.joined(separator: "\n")
    }
}
