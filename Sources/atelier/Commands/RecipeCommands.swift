import ArgumentParser
import AtelierClient
import AtelierCore
import Foundation

struct Reproduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a job's recipe again as a new job and check the images are identical (exit 1 when they are not).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The taskUUID of the job to reproduce.") var taskUUID: String
    @Option(help: "Seconds to wait at most.") var timeout: Double = 600

    func run() async throws {
        do {
            let (r, answer) = try await global.withClient { try await $0.reproduce(taskUUID, timeoutSeconds: min(timeout, 3600)) }
            if global.json {
                Output.printJSON(answer)
            } else {
                print("reproduction \(r.reproduction.taskUUID): \(r.reproduction.status.rawValue)")
                print("identical: \(r.identical.map { $0 ? "true" : "false" } ?? "unknown (not finished)")")
                for i in r.images {
                    print(
                        "  image \(i.index + 1)  \(i.identical ? "same" : "DIFFERENT")  "
                            + "\(i.sha256.prefix(16))… → \(i.reproducedSHA256?.prefix(16) ?? "-")…  \(i.reproducedPath ?? "")")
                }
                for d in r.differences { print("  · \(d)") }
            }
            guard let identical = r.identical else { throw ExitCode(124) }
            if !identical { throw ExitCode(1) }
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
            let r = try await global.withClient { try await $0.recipe(taskUUID, imageUUID: imageUUID) }
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
