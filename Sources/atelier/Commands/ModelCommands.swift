import ArgumentParser
import AtelierClient
import AtelierCore
import AtelierRPC
import Foundation

/// `atelier models [list]` and `atelier models verify`.
struct ModelsGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "The model catalog: list it, or verify it against the providers.",
        subcommands: [ModelsList.self, ModelsVerify.self], defaultSubcommand: ModelsList.self)
}

/// `atelier models list` (the default): the catalog with availability, grades and prices.
struct ModelsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: Models.configuration.abstract)
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var args: [String] = []
        if let s = global.socket { args += ["--socket", s] }
        if global.json { args.append("--json") }
        try await Models.parse(args).run()
    }
}

/// `atelier models verify`: which configured model ids each provider (with a key) still lists today.
struct ModelsVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Ask each provider with a key which configured model ids exist today (missing, deprecated, retired) and which listed image models the catalog lacks.",
        discussion:
            "Providers without a key (or not configured) are reported as skipped. Providers with a complete model listing (Gemini, OpenAI and compatible endpoints, AUTOMATIC1111) are also checked the other way: image models they list that no catalog card uses. Nothing is generated and nothing is paid."
    )
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("provider"), help: "Only this provider (repeatable).")
    var providers: [String] = []
    @Flag(help: "Exit with status 1 when a routable model is missing upstream or a provider could not be asked.")
    var strict = false

    func run() async throws {
        do {
            let r = try await global.withClient { try await $0.verifyModels(providers: providers.isEmpty ? nil : providers) }
            let missing = (r["missing"]?.arrayValue ?? []).compactMap(\.stringValue)
            let failed = (r["providers"]?.arrayValue ?? []).filter { $0["status"]?.stringValue == "failed" }
            if global.json {
                Output.printJSON(r)
            } else {
                print(Self.describe(r))
            }
            if strict && (!missing.isEmpty || !failed.isEmpty) { throw ExitCode(1) }
        } catch let e as ExitCode { throw e } catch { throw Output.fail(error) }
    }

    static func describe(_ r: JSONValue) -> String {
        var out: [String] = []
        let provs = (r["providers"]?.arrayValue ?? []).map { p in
            [
                p["provider"]?.stringValue ?? "", p["status"]?.stringValue ?? "",
                p["reason"]?.stringValue ?? p["error"]?["message"]?.stringValue ?? "",
            ]
        }
        out.append(Output.table(["PROVIDER", "STATUS", "DETAIL"], provs))
        let checked = Set(provs.filter { $0[1] == "checked" }.map { $0[0] })
        let rows = (r["models"]?.arrayValue ?? []).filter { checked.contains($0["provider"]?.stringValue ?? "") }.map { m -> [String] in
            let upstream = m["upstream"]?.stringValue ?? ""
            let status = m["catalogStatus"]?.stringValue ?? ""
            var note = ""
            switch (upstream, status) {
            case ("missing", "retired"): note = "retired (as expected)"
            case ("missing", _):
                note = "MISSING upstream: jobs routed here will fail" + (m["replacedBy"]?.stringValue.map { "; replacedBy \($0)" } ?? "")
            case ("present", "retired"): note = "still listed upstream, retired in the catalog"
            case (_, "deprecated"), ("deprecated", _): note = "deprecated" + (m["replacedBy"]?.stringValue.map { "; replacedBy \($0)" } ?? "")
            case ("unknown", _): note = "the provider did not say"
            default: note = ""
            }
            return [m["id"]?.stringValue ?? "", m["provider"]?.stringValue ?? "", m["upstreamId"]?.stringValue ?? "", status, upstream, note]
        }
        if !rows.isEmpty {
            out.append("")
            out.append(Output.table(["MODEL", "PROVIDER", "UPSTREAM ID", "CATALOG", "UPSTREAM", "NOTE"], rows))
        }
        func list(_ key: String) -> String {
            let a = (r[key]?.arrayValue ?? []).compactMap(\.stringValue)
            return a.isEmpty ? "none" : a.joined(separator: ", ")
        }
        out.append("")
        out.append("missing: \(list("missing"))")
        out.append("deprecated: \(list("deprecated"))")
        out.append("retired: \(list("retired"))")
        out.append("skipped providers: \(list("skipped"))")
        // The other direction: what providers list that the catalog does not know.
        let extra = (r["uncatalogued"]?.arrayValue ?? []).map { "\($0["provider"]?.stringValue ?? "")/\($0["upstreamId"]?.stringValue ?? "")" }
        let listedBy = (r["providers"]?.arrayValue ?? []).filter { $0["uncatalogued"] != nil }.compactMap { $0["provider"]?.stringValue }
        if extra.isEmpty {
            out.append("NOT IN CATALOG: none" + (listedBy.isEmpty ? " (no provider with a complete listing was asked)" : ""))
        } else {
            out.append("NOT IN CATALOG (listed upstream, no card uses them): \(extra.joined(separator: ", "))")
        }
        return out.joined(separator: "\n")
    }
}
