import ArgumentParser
import AtelierClient
import AtelierCore
import AtelierRPC
import Foundation

extension Atelier {
    /// Workflows, recipes and reproduction.
    static let workflowCommands: [any ParsableCommand.Type] = [Ideate.self, Reproduce.self, RecipeCommand.self, WorkflowCommand.self]
}

/// The workflow methods (mirrors `RPCMethod` in the server).
enum WorkflowRPC {
    static let submit = "workflow.submit"
    static let get = "workflow.get"
    static let wait = "workflow.wait"
    static let select = "workflow.select"
    static let cancel = "workflow.cancel"
    static let list = "workflow.list"
    static let reproduce = "job.reproduce"
    static let recipe = "job.recipe"
}

// MARK: - ideate

struct Ideate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explore variants on a fast model, pick one, and finish it reproducibly on a seed-honouring model.",
        discussion: """
            Runs a workflow: the variants run in parallel (routed with phase ideation unless --ideation-model is given); \
            their files are listed (nothing is opened); then the one you pick (interactively, or --pick N, or --pick first) \
            is finished on a seed-honouring model that accepts reference images, anchored on it, with a recorded seed. \
            Prints the final image's path, its recipe and the cost summary. --json prints the workflow for scripts.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The prompt.") var prompt: String
    @Option(name: .customLong("negative"), help: "negativePrompt.") var negativePrompt: String?
    @Option(help: "How many variants (1–16).") var variants: Int = 4
    @Option(help: "Which variant to finish: a number (1-based), or 'first' for the first to succeed. Asked interactively when absent.")
    var pick: String?
    @Option(name: .customLong("ideation-model"), help: "Model for the variants (default: routed, phase ideation).") var ideationModel: String?
    @Option(name: .customLong("final-model"), help: "Model for the final (default: routed, phase final, reproducible).") var finalModel: String?
    @Option(help: "The final's seed (default: generated and recorded).") var seed: Int64?
    @Option(help: "Width in pixels (with --height).") var width: Int?
    @Option(help: "Height in pixels (with --width).") var height: Int?
    @Option(name: .customLong("aspect-ratio"), help: "Aspect ratio such as 16:9.") var aspectRatio: String?
    @Option(help: "Resolution tier: 512, 1K, 2K or 4K.") var resolution: String?
    @Option(name: .customLong("final-resolution"), help: "A different tier for the final.") var finalResolution: String?
    @Option(name: .customLong("final-prompt"), help: "A different prompt for the final.") var finalPrompt: String?
    @Flag(name: .customLong("no-reference"), help: "Do not anchor the final on the chosen variant.") var noReference = false
    @Option(name: .customLong("tag"), help: "A tag for the variants as key=value. Repeatable.") var tags: [String] = []
    @Option(name: .customLong("webhook-url"), help: "Where to POST signed job and workflow events.") var webhookURL: String?
    @Option(name: .customLong("workflow-uuid"), help: "Your own workflowUUID (UUID v4) for idempotent resubmission.") var workflowUUID: String?
    @Option(help: "Copy the final image to this file.") var out: String?
    @Option(help: "Seconds to wait at most.") var timeout: Double = 1800

    func params(mode: String) throws -> JSONValue {
        var o = JSONObject()
        o.append("workflowUUID", ifPresent: workflowUUID.map(JSONValue.string))
        o.append("positivePrompt", .string(prompt))
        o.append("negativePrompt", ifPresent: negativePrompt.map(JSONValue.string))
        o.append("width", ifPresent: width.map { .int(Int64($0)) })
        o.append("height", ifPresent: height.map { .int(Int64($0)) })
        o.append("aspectRatio", ifPresent: aspectRatio.map(JSONValue.string))
        o.append("resolution", ifPresent: resolution.map(JSONValue.string))
        var ideation: JSONObject = ["count": .int(Int64(variants))]
        ideation.append("model", ifPresent: ideationModel.map(JSONValue.string))
        if !tags.isEmpty {
            var t = JSONObject()
            for tag in tags {
                guard let eq = tag.firstIndex(of: "=") else { throw ValidationError("--tag must be key=value, not '\(tag)'") }
                t.append(String(tag[..<eq]), .string(String(tag[tag.index(after: eq)...])))
            }
            ideation.append("tags", .object(t))
        }
        o.append("ideation", .object(ideation))
        o.append("selection", ["mode": .string(mode)])
        var final = JSONObject()
        final.append("seed", ifPresent: seed.map(JSONValue.int))
        final.append("model", ifPresent: finalModel.map(JSONValue.string))
        final.append("resolution", ifPresent: finalResolution.map(JSONValue.string))
        final.append("useSelectedAsReference", .bool(!noReference))
        final.append("promptOverride", ifPresent: finalPrompt.map(JSONValue.string))
        o.append("final", .object(final))
        o.append("webhookURL", ifPresent: webhookURL.map(JSONValue.string))
        return .object(o)
    }

    func run() async throws {
        var pickIndex: Int?
        var mode = "client"
        if let pick {
            if pick.lowercased() == "first" {
                mode = "first"
            } else if let n = Int(pick), n >= 1, n <= variants {
                pickIndex = n
            } else {
                throw ValidationError("--pick must be 'first' or a number from 1 to \(variants), not '\(pick)'")
            }
        }
        do {
            let client = try await global.connect()
            defer { Task { try? await client.close() } }
            let quiet = global.json
            let deadline = Date().addingTimeInterval(timeout)
            var w = try await client.call(WorkflowRPC.submit, params: try params(mode: mode))
            let id = w["workflowUUID"]?.stringValue ?? "?"
            let progress = WorkflowProgress(quiet: quiet)
            progress.note("workflow \(id): \(variants) variant\(variants == 1 ? "" : "s"), selection \(mode)")
            w = try await progress.follow(client, id, w, until: { $0.isResting || ($0 == .finalizing && mode == "first") }, deadline: deadline)

            if WorkflowView.state(w) == .awaitingSelection {
                progress.listVariants(w)
                guard let image = try chooseImage(w, pickIndex: pickIndex, quiet: quiet) else {
                    progress.note("no variant chosen; finish later with: atelier workflow select \(id) N")
                    if quiet { Output.printJSON(w) }
                    return
                }
                w = try await client.call(WorkflowRPC.select, params: ["workflowUUID": .string(id), "imageUUID": .string(image)])
            }
            w = try await progress.follow(client, id, w, until: { $0.isTerminal }, deadline: deadline)
            let state = WorkflowView.state(w)
            if let out, state == .succeeded, let path = w["stages"]?["final"]?["image"]?["path"]?.stringValue {
                if FileManager.default.fileExists(atPath: out) { try FileManager.default.removeItem(atPath: out) }
                try FileManager.default.copyItem(atPath: path, toPath: out)
                if !quiet { print("wrote \(out)") }
            }
            if quiet { Output.printJSON(w) } else { print(WorkflowView.describe(w, withRecipe: true)) }
            if state == nil || !(state!.isTerminal) { throw ExitCode(124) }
            if state != .succeeded { throw ExitCode(1) }
        } catch let e as ExitCode { throw e } catch { throw Output.fail(error) }
    }

    /// The imageUUID to finish: --pick N, or asked on the terminal (or read from stdin in scripts); nil when none given.
    func chooseImage(_ w: JSONValue, pickIndex: Int?, quiet: Bool) throws -> String? {
        let variants = w["stages"]?["ideation"]?["variants"]?.arrayValue ?? []
        func image(_ n: Int) -> String? {
            guard n >= 1, n <= variants.count, variants[n - 1]["status"]?.stringValue == "succeeded" else { return nil }
            return variants[n - 1]["image"]?["imageUUID"]?.stringValue
        }
        let ok = variants.indices.filter { image($0 + 1) != nil }.map { String($0 + 1) }
        if let pickIndex {
            guard let id = image(pickIndex) else {
                throw ValidationError("variant \(pickIndex) did not succeed; choose one of \(ok.joined(separator: ", "))")
            }
            return id
        }
        let interactive = isatty(STDIN_FILENO) == 1
        while true {
            if interactive { FileHandle.standardError.write(Data("finish which variant? [\(ok.joined(separator: "/"))]: ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { return nil }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if let n = Int(text), let id = image(n) { return id }
            if !interactive { throw ValidationError("'\(text)' is not a finished variant; choose one of \(ok.joined(separator: ", "))") }
            FileHandle.standardError.write(Data("  not a finished variant: \(text)\n".utf8))
        }
    }
}

/// Follows a workflow and prints what changes: each variant's status, the selection, the final.
final class WorkflowProgress {
    let quiet: Bool
    private var seen: [String: String] = [:]

    init(quiet: Bool) { self.quiet = quiet }

    func note(_ s: String) {
        if !quiet { FileHandle.standardError.write(Data((s + "\n").utf8)) }
    }

    /// Polls until `until(state)` holds or the deadline passes; returns the workflow then.
    func follow(
        _ client: AtelierClient, _ id: String, _ start: JSONValue, until: (WorkflowState) -> Bool, deadline: Date
    ) async throws -> JSONValue {
        var w = start
        while true {
            report(w)
            if let s = WorkflowView.state(w), until(s) { return w }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return w }
            w = try await client.call(WorkflowRPC.wait, params: ["workflowUUID": .string(id), "timeoutSeconds": .number(min(0.5, left))])
        }
    }

    func report(_ w: JSONValue) {
        let variants = w["stages"]?["ideation"]?["variants"]?.arrayValue ?? []
        for (i, v) in variants.enumerated() {
            let status = v["status"]?.stringValue ?? "?"
            let key = "v\(i)"
            guard seen[key] != status else { continue }
            seen[key] = status
            var line = "  variant \(i + 1)/\(variants.count)  \(status.padding(toLength: 9, withPad: " ", startingAt: 0))"
            if let m = v["model"]?.stringValue { line += "  \(m)" }
            if status == "succeeded", let p = v["image"]?["path"]?.stringValue { line += "  \(p)  \(Output.usd(v["costUSD"]?.doubleValue))" }
            if status == "failed", let e = v["error"] { line += "  \(e["code"]?.stringValue ?? ""): \(e["message"]?.stringValue ?? "")" }
            note(line)
        }
        if let sel = w["stages"]?["selection"]?["imageUUID"]?.stringValue, seen["sel"] == nil {
            seen["sel"] = sel
            let n = (w["stages"]?["selection"]?["variantIndex"]?.intValue).map { " (variant \($0 + 1))" } ?? ""
            note("  selected \(sel)\(n) by \(w["stages"]?["selection"]?["selectedBy"]?.stringValue ?? "?")")
        }
        let f = w["stages"]?["final"]
        if let status = f?["status"]?.stringValue, status != "pending", seen["final"] != status {
            seen["final"] = status
            var line = "  final      \(status.padding(toLength: 9, withPad: " ", startingAt: 0))"
            if let m = f?["model"]?.stringValue { line += "  \(m)" }
            if let s = f?["seed"]?.intValue { line += "  seed \(s)" }
            note(line)
        }
    }

    func listVariants(_ w: JSONValue) {
        guard !quiet else { return }
        note("variants:")
        for (i, v) in (w["stages"]?["ideation"]?["variants"]?.arrayValue ?? []).enumerated() {
            if let p = v["image"]?["path"]?.stringValue, v["status"]?.stringValue == "succeeded" {
                note("  [\(i + 1)] \(p)")
            } else {
                note("  [\(i + 1)] (\(v["status"]?.stringValue ?? "?"))")
            }
        }
    }
}

/// Reading and printing workflow documents.
enum WorkflowView {
    static func state(_ w: JSONValue) -> WorkflowState? { w["state"]?.stringValue.flatMap(WorkflowState.init(rawValue:)) }

    static func describe(_ w: JSONValue, withRecipe: Bool) -> String {
        var lines = ["workflow \(w["workflowUUID"]?.stringValue ?? "?"): \(w["state"]?.stringValue ?? "?")"]
        let variants = w["stages"]?["ideation"]?["variants"]?.arrayValue ?? []
        for (i, v) in variants.enumerated() {
            var line = "  variant \(i + 1)  \(v["status"]?.stringValue ?? "?")  \(v["model"]?.stringValue ?? "-")"
            if let p = v["image"]?["path"]?.stringValue { line += "  \(p)" }
            lines.append(line)
        }
        if let sel = w["stages"]?["selection"], let img = sel["imageUUID"]?.stringValue {
            lines.append("  selected variant \((sel["variantIndex"]?.intValue ?? 0) + 1) (\(img)) by \(sel["selectedBy"]?.stringValue ?? "?")")
        }
        let f = w["stages"]?["final"]
        lines.append(
            "  final    \(f?["status"]?.stringValue ?? "?")  \(f?["model"]?.stringValue ?? "-")  seed \(f?["seed"]?.intValue.map(String.init) ?? "-")")
        if let img = f?["image"], let p = img["path"]?.stringValue {
            lines.append("  path     \(p)")
            lines.append("  image    \(img["width"]?.intValue ?? 0)x\(img["height"]?.intValue ?? 0)  sha256 \(img["sha256"]?.stringValue ?? "")")
        }
        if withRecipe, let r = f?["recipe"], !r.isNull {
            lines.append("  recipe")
            lines.append(JSONWriter.pretty(r).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        }
        if let c = w["cost"] {
            lines.append(
                "  cost     ideation \(Output.usd(c["ideationUSD"]?.doubleValue)) (\(variants.count) variant\(variants.count == 1 ? "" : "s"))"
                    + "  final \(Output.usd(c["finalUSD"]?.doubleValue))  total \(Output.usd(c["totalUSD"]?.doubleValue))")
            if let b = c["allOnMostExpensive"], !b.isNull {
                var line = "           all on \(b["model"]?.stringValue ?? "?"): \(Output.usd(b["totalUSD"]?.doubleValue))"
                if let s = c["savingsUSD"]?.doubleValue {
                    line += s >= 0 ? "  → the hybrid saves \(Output.usd(s))" : "  → the hybrid costs \(Output.usd(-s)) more"
                    if let p = c["savingsPercent"]?.doubleValue { line += String(format: " (%.1f%%)", abs(p)) }
                }
                lines.append(line)
            }
        }
        if let e = w["error"], !e.isNull {
            lines.append("  error    \(e["code"]?.stringValue ?? "?"): \(e["message"]?.stringValue ?? "")")
            if case .object(let rej)? = e["rejections"] {
                for (m, why) in rej { lines.append("           \(m): \(why.stringValue ?? why.description)") }
            }
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: - workflow get/wait/select/cancel/list

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
                let client = try await global.connect()
                let w = try await client.call(WorkflowRPC.get, params: ["workflowUUID": .string(workflowUUID)])
                try? await client.close()
                if global.json { Output.printJSON(w) } else { print(WorkflowView.describe(w, withRecipe: false)) }
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
                let client = try await global.connect()
                let deadline = Date().addingTimeInterval(timeout)
                var w = try await client.call(WorkflowRPC.get, params: ["workflowUUID": .string(workflowUUID)])
                w = try await WorkflowProgress(quiet: global.json).follow(client, workflowUUID, w, until: { $0.isResting }, deadline: deadline)
                try? await client.close()
                if global.json { Output.printJSON(w) } else { print(WorkflowView.describe(w, withRecipe: true)) }
                if WorkflowView.state(w)?.isResting != true { throw ExitCode(124) }
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
                let client = try await global.connect()
                var image = variant
                if let n = Int(variant) {
                    let w = try await client.call(WorkflowRPC.get, params: ["workflowUUID": .string(workflowUUID)])
                    let vs = w["stages"]?["ideation"]?["variants"]?.arrayValue ?? []
                    guard n >= 1, n <= vs.count, let id = vs[n - 1]["image"]?["imageUUID"]?.stringValue else {
                        throw ValidationError("variant \(n) has no image (yet)")
                    }
                    image = id
                }
                let w = try await client.call(WorkflowRPC.select, params: ["workflowUUID": .string(workflowUUID), "imageUUID": .string(image)])
                try? await client.close()
                if global.json { Output.printJSON(w) } else { print(WorkflowView.describe(w, withRecipe: false)) }
            } catch { throw Output.fail(error) }
        }
    }

    struct CancelWorkflow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a workflow and its unfinished jobs.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The workflowUUID.") var workflowUUID: String

        func run() async throws {
            do {
                let client = try await global.connect()
                let w = try await client.call(WorkflowRPC.cancel, params: ["workflowUUID": .string(workflowUUID)])
                try? await client.close()
                if global.json { Output.printJSON(w) } else { print(WorkflowView.describe(w, withRecipe: false)) }
            } catch { throw Output.fail(error) }
        }
    }

    struct ListWorkflows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List workflows, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only workflows in this state.") var state: String?
        @Option(help: "How many.") var limit: Int = 20
        @Option(help: "Continue after this cursor.") var cursor: String?

        func run() async throws {
            do {
                let client = try await global.connect()
                var p: JSONObject = ["limit": .int(Int64(limit))]
                p.append("state", ifPresent: state.map(JSONValue.string))
                p.append("cursor", ifPresent: cursor.map(JSONValue.string))
                let r = try await client.call(WorkflowRPC.list, params: .object(p))
                try? await client.close()
                if global.json {
                    Output.printJSON(r)
                    return
                }
                let rows = (r["workflows"]?.arrayValue ?? []).map { w in
                    [
                        w["workflowUUID"]?.stringValue ?? "", w["state"]?.stringValue ?? "", w["createdAt"]?.stringValue ?? "",
                        "\(w["succeededVariants"]?.intValue ?? 0)/\(w["variants"]?.intValue ?? 0)", Output.usd(w["totalUSD"]?.doubleValue),
                        String((w["positivePrompt"]?.stringValue ?? "").prefix(40)),
                    ]
                }
                print(Output.table(["WORKFLOW UUID", "STATE", "CREATED", "VARIANTS", "COST", "PROMPT"], rows))
                if let next = r["nextCursor"]?.stringValue { print("more: atelier workflow list --cursor \(next)") }
            } catch { throw Output.fail(error) }
        }
    }
}

// MARK: - reproduce / recipe

struct Reproduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a job's recipe again as a new job and check the images are identical (exit 1 when they are not).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The taskUUID of the job to reproduce.") var taskUUID: String
    @Option(help: "Seconds to wait at most.") var timeout: Double = 600

    func run() async throws {
        do {
            let client = try await global.connect()
            let r = try await client.call(
                WorkflowRPC.reproduce, params: ["taskUUID": .string(taskUUID), "timeoutSeconds": .number(min(timeout, 3600))])
            try? await client.close()
            if global.json {
                Output.printJSON(r)
            } else {
                let identical = r["identical"]?.boolValue
                print("reproduction \(r["reproductionTaskUUID"]?.stringValue ?? "?"): \(r["status"]?.stringValue ?? "?")")
                print("identical: \(identical.map { $0 ? "true" : "false" } ?? "unknown (not finished)")")
                for i in r["images"]?.arrayValue ?? [] {
                    print(
                        "  image \((i["index"]?.intValue ?? 0) + 1)  \(i["identical"]?.boolValue == true ? "same" : "DIFFERENT")  "
                            + "\(i["sha256"]?.stringValue?.prefix(16) ?? "")… → \(i["reproducedSHA256"]?.stringValue?.prefix(16) ?? "-")…  "
                            + "\(i["reproducedPath"]?.stringValue ?? "")")
                }
                for d in r["differences"]?.arrayValue ?? [] { print("  · \(d.stringValue ?? "")") }
            }
            if r["identical"]?.boolValue == nil { throw ExitCode(124) }
            if r["identical"]?.boolValue != true { throw ExitCode(1) }
        } catch let e as ExitCode { throw e } catch { throw Output.fail(error) }
    }
}

struct RecipeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipe", abstract: "Print a job's recipe as JSON (what `atelier submit --recipe FILE` accepts).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The taskUUID.") var taskUUID: String
    @Option(name: .customLong("image"), help: "Only this image (its imageUUID): a one-image recipe with that image's seed.") var imageUUID: String?
    @Option(help: "Write the recipe to this file instead of printing it.") var out: String?

    func run() async throws {
        do {
            let client = try await global.connect()
            var p: JSONObject = ["taskUUID": .string(taskUUID)]
            p.append("imageUUID", ifPresent: imageUUID.map(JSONValue.string))
            let r = try await client.call(WorkflowRPC.recipe, params: .object(p))
            try? await client.close()
            let text = JSONWriter.pretty(r) + "\n"
            if let out {
                try text.write(toFile: out, atomically: true, encoding: .utf8)
                if !global.json { FileHandle.standardError.write(Data("wrote \(out)\n".utf8)) }
            } else {
                print(text, terminator: "")
            }
        } catch { throw Output.fail(error) }
    }
}

/// `atelier submit --recipe FILE`.
enum RecipeFile {
    /// The params to submit: the recipe's task when `--recipe` is given (with `--task-uuid` if any), else the options' task.
    static func submitParams(recipe: String?, task: TaskOptions) throws -> JSONValue {
        guard let recipe else { return try task.json() }
        guard task.prompt == nil else { throw ValidationError("give a prompt or --recipe FILE, not both") }
        guard let data = FileManager.default.contents(atPath: recipe) else { throw ValidationError("cannot read \(recipe)") }
        let doc: JSONValue
        do { doc = try JSONParser.parse(Array(data)) } catch { throw ValidationError("\(recipe) is not JSON: \(error)") }
        let params: JSONValue
        do { params = try Reproduction.taskParams(fromDocument: doc) } catch { throw ValidationError("\(recipe): \(error.message)") }
        guard case .object(var o) = params else { return params }
        if let id = task.taskUUID { o["taskUUID"] = .string(id) }
        return .object(o)
    }

    /// After a `--recipe` submission finished: whether each image matches the recipe's SHA-256 (stderr).
    static func report(_ job: Job, recipe: String?, quiet: Bool) {
        guard let recipe, !quiet, job.status == .succeeded, let data = FileManager.default.contents(atPath: recipe),
            let doc = try? JSONParser.parse(Array(data)), let expected = doc["results"]?.arrayValue
        else { return }
        let want = expected.compactMap { $0["sha256"]?.stringValue }
        let got = job.results.map(\.sha256)
        FileHandle.standardError.write(Data("identical to the recipe's images: \(want == got ? "yes" : "no")\n".utf8))
    }
}
