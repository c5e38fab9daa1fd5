import ArgumentParser
import AtelierClient
import AtelierCore
import Foundation

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
        ideation.append("tags", ifPresent: try OptionValues.tags(tags))
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
            let quiet = global.json
            let request = try params(mode: mode)
            let finished: WorkflowDocument? = try await global.withClient { client in
                let deadline = Date().addingTimeInterval(timeout)
                var w = try await client.submitWorkflow(request)
                let id = w.workflowUUID
                let progress = WorkflowProgress(quiet: quiet)
                progress.note("workflow \(id): \(variants) variant\(variants == 1 ? "" : "s"), selection \(mode)")
                w = try await progress.follow(client, w, until: { $0.isResting || ($0 == .finalizing && mode == "first") }, deadline: deadline)

                if w.state == .awaitingSelection {
                    progress.listVariants(w)
                    guard let image = try chooseImage(w, pickIndex: pickIndex, quiet: quiet) else {
                        progress.note("no variant chosen; finish later with: atelier workflow select \(id) N")
                        if quiet { Output.printJSON(w.json) }
                        return nil
                    }
                    w = try await client.selectVariant(id, imageUUID: image)
                }
                return try await progress.follow(client, w, until: { $0.isTerminal }, deadline: deadline)
            }
            guard let w = finished else { return }
            if let out, w.state == .succeeded, let path = w.final.path {
                if FileManager.default.fileExists(atPath: out) { try FileManager.default.removeItem(atPath: out) }
                try FileManager.default.copyItem(atPath: path, toPath: out)
                if !quiet { print("wrote \(out)") }
            }
            if quiet { Output.printJSON(w.json) } else { print(WorkflowText.describe(w, withRecipe: true)) }
            if !w.state.isTerminal { throw ExitCode(124) }
            if w.state != .succeeded { throw ExitCode(1) }
        } catch let e as ExitCode { throw e } catch { throw Output.fail(error) }
    }

    /// The imageUUID to finish: --pick N, or asked on the terminal (or read from stdin in scripts); nil when none given.
    func chooseImage(_ w: WorkflowDocument, pickIndex: Int?, quiet: Bool) throws -> String? {
        let image = w.variantImage
        let ok = w.variants.indices.filter { image($0 + 1) != nil }.map { String($0 + 1) }
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
        _ client: AtelierClient, _ start: WorkflowDocument, until: (WorkflowState) -> Bool, deadline: Date
    ) async throws -> WorkflowDocument {
        var w = start
        while true {
            report(w)
            if until(w.state) { return w }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return w }
            w = try await client.waitWorkflow(w.workflowUUID, timeoutSeconds: min(0.5, left))
        }
    }

    func report(_ w: WorkflowDocument) {
        for (i, v) in w.variants.enumerated() {
            let key = "v\(i)"
            guard seen[key] != v.status else { continue }
            seen[key] = v.status
            var line = "  variant \(i + 1)/\(w.variants.count)  \(v.status.padding(toLength: 9, withPad: " ", startingAt: 0))"
            if let m = v.model { line += "  \(m)" }
            if v.status == "succeeded", let p = v.path { line += "  \(p)  \(Output.usd(v.costUSD))" }
            if v.status == "failed", let e = v.error { line += "  \(e.code): \(e.message)" }
            note(line)
        }
        if let sel = w.selection, seen["sel"] == nil {
            seen["sel"] = sel.imageUUID
            let n = sel.variantIndex.map { " (variant \($0 + 1))" } ?? ""
            note("  selected \(sel.imageUUID)\(n) by \(sel.selectedBy ?? "?")")
        }
        let f = w.final
        if f.status != "pending", seen["final"] != f.status {
            seen["final"] = f.status
            var line = "  final      \(f.status.padding(toLength: 9, withPad: " ", startingAt: 0))"
            if let m = f.model { line += "  \(m)" }
            if let s = f.seed { line += "  seed \(s)" }
            note(line)
        }
    }

    func listVariants(_ w: WorkflowDocument) {
        guard !quiet else { return }
        note("variants:")
        for (i, v) in w.variants.enumerated() {
            if let p = v.path, v.status == "succeeded" {
                note("  [\(i + 1)] \(p)")
            } else {
                note("  [\(i + 1)] (\(v.status))")
            }
        }
    }
}
