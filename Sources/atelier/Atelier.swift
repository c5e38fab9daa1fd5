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
        subcommands: jobCommands + routingCommands + workflowCommands + deliveryCommands + storeCommands)

    /// The job subcommands. Feature files add their own lists here.
    static let jobCommands: [any ParsableCommand.Type] = [
        Submit.self, Get.self, Wait.self, Cancel.self, List.self, ModelsGroup.self, Explain.self, Health.self, Console.self,
    ]
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Socket path (env ATELIER_SOCKET).")
    var socket: String?

    @Flag(help: "Print JSON for scripts instead of human output.")
    var json = false

    /// Connects to the daemon, runs `body`, and closes the connection however `body` ends.
    func withClient<T>(_ body: (AtelierClient) async throws -> T) async throws -> T {
        try await AtelierClient.withConnection(socketPath: socket ?? DefaultPaths.socket(), body)
    }
}

/// The task fields, shared by `submit` and `explain`.
struct TaskOptions: ParsableArguments {
    @Argument(help: "The prompt (positivePrompt). Not with `submit --recipe FILE`.")
    var prompt: String?

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
        guard let prompt else { throw ValidationError("a prompt is required") }
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
        o.append("tags", ifPresent: try OptionValues.tags(tags))
        o.append("webhookURL", ifPresent: webhookURL.map(JSONValue.string))
        if uploadEndpoints.count == 1 {
            o.append("uploadEndpoint", .string(uploadEndpoints[0]))
        } else if uploadEndpoints.count > 1 {
            o.append("uploadEndpoint", .array(uploadEndpoints.map(JSONValue.string)))
        }
        return .object(o)
    }
}
