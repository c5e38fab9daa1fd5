import Foundation

/// One problem in a configuration file, located by file and JSON pointer.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    /// The file (as given to the loader).
    public var file: String
    /// The JSON pointer of the offending value ("" for the whole document).
    public var pointer: String
    /// What is wrong.
    public var message: String
    /// How to fix it, when there is something useful to say.
    public var hint: String?

    public init(file: String, pointer: String, message: String, hint: String? = nil) {
        self.file = file
        self.pointer = pointer
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "\(file):\(pointer.isEmpty ? "/" : pointer): \(message)" + (hint.map { " (hint: \($0))" } ?? "")
    }

    /// `{file, pointer, message, hint}`.
    public var json: JSONValue {
        var o: JSONObject = ["file": .string(file), "pointer": .string(pointer), "message": .string(message)]
        o.append("hint", ifPresent: hint.map(JSONValue.string))
        return .object(o)
    }
}

/// Every problem found in a set of configuration files. Loading reports all of them, not just the first.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public init(_ issues: [ConfigIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Reads and validates `providers/*.json`.
///
/// The file format is documented in `docs/providers.md`. Unknown members are errors, so a typo never silently
/// changes a price or a size table.
public enum CatalogLoader {
    /// Loads every `*.json` in `directory`, in file-name order.
    public static func load(directory: String) throws(ConfigError) -> Catalog {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw ConfigError([ConfigIssue(file: directory, pointer: "", message: "cannot read the providers directory")])
        }
        let files = names.filter { $0.hasSuffix(".json") }.sorted()
        if files.isEmpty {
            throw ConfigError([ConfigIssue(file: directory, pointer: "", message: "no provider files (*.json) found")])
        }
        var docs: [(String, Data)] = []
        for f in files {
            let path = (directory as NSString).appendingPathComponent(f)
            guard let data = fm.contents(atPath: path) else {
                throw ConfigError([ConfigIssue(file: path, pointer: "", message: "cannot read file")])
            }
            docs.append((path, data))
        }
        return try load(documents: docs)
    }

    /// Loads provider documents given as (file name, bytes).
    public static func load(documents: [(String, Data)]) throws(ConfigError) -> Catalog {
        var issues: [ConfigIssue] = []
        var providers: [ProviderConfig] = []
        // Per provider, the JSON pointer of each parsed model in its file (models that failed to parse leave gaps).
        var modelPointers: [[String]] = []
        for (file, data) in documents {
            let value: JSONValue
            do {
                value = try JSONParser.parse(data)
            } catch {
                issues.append(ConfigIssue(file: file, pointer: "", message: error.description))
                continue
            }
            let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            var pointers: [String] = []
            if let p = parseProvider(value, file: file, expectedID: stem, issues: &issues, modelPointers: &pointers) {
                providers.append(p)
                modelPointers.append(pointers)
            }
        }
        // Cross-file checks: unique model ids and aliases.
        var owner: [String: String] = [:]
        for (pi, p) in providers.enumerated() {
            for (i, m) in p.models.enumerated() {
                for name in m.allIDs {
                    if let other = owner[name] {
                        issues.append(
                            ConfigIssue(
                                file: p.source, pointer: modelPointers[pi][i], message: "model id or alias '\(name)' is already used by \(other)",
                                hint: "ids and aliases must be unique across all provider files"))
                    } else {
                        owner[name] = "\(p.id)/\(m.id)"
                    }
                }
            }
        }
        // Checked even when other issues were found, so that one run reports every problem.
        let catalog = Catalog(providers: providers)
        for (pi, p) in providers.enumerated() {
            for (i, m) in p.models.enumerated() {
                if let r = m.replacedBy, catalog.model(r) == nil {
                    issues.append(
                        ConfigIssue(
                            file: p.source, pointer: modelPointers[pi][i] + "/replacedBy", message: "model \(m.id) is replacedBy unknown model '\(r)'"
                        ))
                }
            }
        }
        if !issues.isEmpty { throw ConfigError(issues) }
        return catalog
    }

    static func parseProvider(
        _ value: JSONValue, file: String, expectedID: String, issues: inout [ConfigIssue], modelPointers: inout [String]
    ) -> ProviderConfig? {
        do throws(AtelierError) {
            var r = try FieldReader(value)
            let id = try r.requiredString("id")
            if id != expectedID {
                issues.append(
                    ConfigIssue(
                        file: file, pointer: "/id", message: "provider id '\(id)' does not match the file name", hint: "name the file \(id).json"))
            }
            let kindText = try r.requiredString("kind")
            guard let kind = ProviderKind(rawValue: kindText) else {
                throw AtelierError(
                    .invalidValue, "unknown provider kind '\(kindText)'", field: "/kind",
                    details: ["allowed": .array(ProviderKind.allCases.map { .string($0.rawValue) })])
            }
            let displayName = try r.string("displayName") ?? id
            let baseURL = try r.string("baseURL")
            if let b = baseURL { try URLCheck.validateHTTP(b, field: "/baseURL") }
            if kind != .local && baseURL == nil {
                throw AtelierError(.missingField, "baseURL is required for \(kind.rawValue) providers", field: "/baseURL")
            }
            let apiKeyEnv = try r.string("apiKeyEnv")
            let keyOptional = try r.bool("keyOptional") ?? false
            let concurrency = Int(try r.int("concurrency", in: 1...256) ?? 4)
            let reqTimeout = try positive(&r, "requestTimeoutSeconds") ?? 120
            let totalTimeout = try positive(&r, "totalTimeoutSeconds") ?? 900
            var retry = RetryPolicy()
            if var q = try r.nested("retry") {
                retry.maxAttempts = Int(try q.int("maxAttempts", in: 1...20) ?? 3)
                retry.baseDelaySeconds = try positive(&q, "baseDelaySeconds") ?? 1
                retry.maxDelaySeconds = try positive(&q, "maxDelaySeconds") ?? 30
                try q.finish()
            }
            guard case .array(let modelValues)? = r.raw("models"), !modelValues.isEmpty else {
                throw AtelierError(.missingField, "models must be a non-empty array", field: "/models")
            }
            var models: [ModelCard] = []
            for (i, mv) in modelValues.enumerated() {
                do throws(AtelierError) {
                    models.append(try parseModel(mv, path: "/models/\(i)", provider: id, kind: kind))
                    modelPointers.append("/models/\(i)")
                } catch {
                    issues.append(ConfigIssue(file: file, pointer: error.field ?? "/models/\(i)", message: error.message, hint: hint(for: error)))
                }
            }
            let batch = try r.raw("batch").map { v throws(AtelierError) in try BatchSettings.parse(v, path: "/batch") }
            try r.finish()
            var config = ProviderConfig(
                id: id, kind: kind, displayName: displayName, baseURL: baseURL, apiKeyEnv: apiKeyEnv, keyOptional: keyOptional,
                concurrency: concurrency, requestTimeoutSeconds: reqTimeout, totalTimeoutSeconds: totalTimeout, retry: retry, models: models,
                source: file)
            config.batch = batch
            return config
        } catch {
            issues.append(ConfigIssue(file: file, pointer: error.field ?? "", message: error.message, hint: hint(for: error)))
            return nil
        }
    }

    static func hint(for error: AtelierError) -> String? {
        if case .array(let a)? = error.details["allowed"] {
            return "allowed: " + a.compactMap(\.stringValue).joined(separator: ", ")
        }
        if error.code == .unknownField { return "check the spelling; unknown members are not ignored" }
        return nil
    }

    static func positive(_ r: inout FieldReader, _ key: String) throws(AtelierError) -> Double? {
        guard let d = try r.double(key) else { return nil }
        guard d > 0, d.isFinite else { throw AtelierError(.invalidValue, "\(key) must be greater than zero", field: r.pointer(key)) }
        return d
    }

    static func nonNegative(_ r: inout FieldReader, _ key: String) throws(AtelierError) -> Double? {
        guard let d = try r.double(key) else { return nil }
        guard d >= 0, d.isFinite else { throw AtelierError(.invalidValue, "\(key) must be zero or more", field: r.pointer(key)) }
        return d
    }

    static func parseModel(_ value: JSONValue, path: String, provider: String, kind: ProviderKind) throws(AtelierError) -> ModelCard {
        var r = try FieldReader(value, path: path)
        let id = try r.requiredString("id")
        if id.isEmpty || id == "auto" || id.contains(where: \.isWhitespace) {
            throw AtelierError(.invalidValue, "model id must be non-empty, not 'auto', without spaces", field: r.pointer("id"))
        }
        let upstream = try r.string("upstreamId") ?? id
        let displayName = try r.string("displayName") ?? id
        let statusText = try r.string("status") ?? "active"
        guard let status = ModelStatus(rawValue: statusText) else {
            throw AtelierError(
                .invalidValue, "status must be active, deprecated or retired", field: r.pointer("status"),
                details: ["allowed": ["active", "deprecated", "retired"]])
        }
        let aliases = try r.stringArray("aliases") ?? []
        let replacedBy = try r.string("replacedBy")
        guard let seedHonored = try r.bool("seedHonored") else {
            throw AtelierError(
                .missingField, "seedHonored is required (true only if a seed really reproduces the image)", field: r.pointer("seedHonored"))
        }
        let seedAccepted = try r.bool("seedAccepted") ?? seedHonored
        if seedHonored && !seedAccepted {
            throw AtelierError(.invalidValue, "a model that honours seeds must accept them", field: r.pointer("seedAccepted"))
        }
        let text = Int(try r.int("textRendering", in: 1...5) ?? 1)
        let quality = Int(try r.int("quality", in: 1...5) ?? 3)
        let latency = try positive(&r, "latencySeconds") ?? 10
        let maxRefs = Int(try r.int("maxReferenceImages", in: 0...16) ?? 0)
        let maxRefMB = try positive(&r, "maxReferenceImageMB") ?? 20
        let maxPrompt = Int(try r.int("maxPromptLength", in: 1...100_000) ?? 3000)
        var nr = 1...1
        if var q = try r.nested("numberResults") {
            let lo = Int(try q.int("min", in: 1...20) ?? 1)
            let hi = Int(try q.int("max", in: 1...20) ?? Int64(lo))
            guard lo <= hi else { throw AtelierError(.invalidValue, "numberResults.min must not exceed max", field: q.pointer("min")) }
            nr = lo...hi
            try q.finish()
        }
        var formats: [OutputFormat] = []
        for (i, f) in (try r.stringArray("outputFormats") ?? ["PNG"]).enumerated() {
            guard let of = OutputFormat(parsing: f) else {
                throw AtelierError(
                    .invalidValue, "unknown output format '\(f)'", field: r.pointer("outputFormats") + "/\(i)",
                    details: ["allowed": ["PNG", "JPG", "WEBP"]])
            }
            formats.append(of)
        }
        guard let sizesValue = r.raw("sizes") else { throw AtelierError(.missingField, "sizes is required", field: r.pointer("sizes")) }
        let sizes = try parseSizes(sizesValue, path: r.pointer("sizes"))
        guard let priceValue = r.raw("price") else { throw AtelierError(.missingField, "price is required", field: r.pointer("price")) }
        let (price, priceAsOf) = try parseDatedPrice(priceValue, path: r.pointer("price"))
        let builtin = try r.bool("builtin") ?? false
        let safety = try r.string("safetyPolicy") ?? provider
        var parameters: JSONObject = [:]
        if let p = r.raw("parameters") {
            guard case .object(let o) = p else {
                throw AtelierError(.invalidType, "parameters must be an object", field: r.pointer("parameters"))
            }
            parameters = o
        }
        let batch = try r.raw("batch").map { v throws(AtelierError) in try parseModelBatch(v, path: r.pointer("batch")) }
        try r.finish()
        var card = ModelCard(
            id: id, provider: provider, kind: kind, upstreamID: upstream, displayName: displayName, status: status, aliases: aliases,
            replacedBy: replacedBy, seedHonored: seedHonored, seedAccepted: seedAccepted, textRendering: text, quality: quality,
            latencySeconds: latency, maxReferenceImages: maxRefs, maxReferenceImageBytes: Int(maxRefMB * 1_048_576),
            maxPromptLength: maxPrompt, numberResults: nr, outputFormats: formats, sizes: sizes, price: price, builtin: builtin,
            safetyPolicy: safety, parameters: parameters, priceAsOf: priceAsOf)
        (card.batchPrice, card.batchPriceAsOf) = (batch?.0, batch?.1)
        return card
    }

    static func parseSizes(_ value: JSONValue, path: String) throws(AtelierError) -> SizeRules {
        var r = try FieldReader(value, path: path)
        if var q = try r.nested("range") {
            func side(_ k: String, _ d: Int64) throws(AtelierError) -> Int { Int(try q.int(k, in: 16...65_536) ?? d) }
            let rr = SizeRules.SizeRange(
                minWidth: try side("minWidth", 64), maxWidth: try side("maxWidth", 2048), minHeight: try side("minHeight", 64),
                maxHeight: try side("maxHeight", 2048), multipleOf: Int(try q.int("multipleOf", in: 1...256) ?? 8),
                maxMegapixels: try positive(&q, "maxMegapixels") ?? 4.2)
            if rr.minWidth > rr.maxWidth || rr.minHeight > rr.maxHeight {
                throw AtelierError(.invalidValue, "min sizes must not exceed max sizes", field: q.path)
            }
            try q.finish()
            try r.finish()
            return .range(rr)
        }
        guard var t = try r.nested("table") else {
            throw AtelierError(.missingField, "sizes needs \"range\" or \"table\"", field: path)
        }
        var entries: [SizeRules.SizeEntry] = []
        for (tierName, ratios) in t.object {
            let tierPath = JSONPointer.appending(tierName, to: t.path)
            guard let tier = ResolutionTier(parsing: tierName) else {
                throw AtelierError(
                    .invalidValue, "unknown resolution tier '\(tierName)'", field: tierPath, details: ["allowed": ["512", "1K", "2K", "4K"]])
            }
            guard case .object(let ro) = ratios else { throw AtelierError(.invalidType, "a tier maps ratios to sizes", field: tierPath) }
            for (ratioName, sizes) in ro {
                let rp = JSONPointer.appending(ratioName, to: tierPath)
                guard let ratio = AspectRatio(ratioName) else {
                    throw AtelierError(.invalidValue, "'\(ratioName)' is not an aspect ratio like 16:9", field: rp)
                }
                let list: [JSONValue]
                switch sizes {
                case .string: list = [sizes]
                case .array(let a): list = a
                default: throw AtelierError(.invalidType, "a size is \"WxH\" or an array of them", field: rp)
                }
                for (i, s) in list.enumerated() {
                    guard let text = s.stringValue, let px = PixelSize(text) else {
                        throw AtelierError(.invalidValue, "a size is \"WxH\"", field: list.count > 1 ? rp + "/\(i)" : rp)
                    }
                    entries.append(.init(tier: tier, aspectRatio: ratio, pixels: px))
                }
            }
            _ = t.raw(tierName)
        }
        if entries.isEmpty { throw AtelierError(.invalidValue, "size table is empty", field: t.path) }
        try t.finish()
        try r.finish()
        return .table(entries)
    }

    /// A model's `price`: the rule and the day it was read (`asOf`, required for every price but `free`).
    static func parseDatedPrice(_ value: JSONValue, path: String) throws(AtelierError) -> (PriceRule, String?) {
        var r = try FieldReader(value, path: path)
        let asOf = try r.string("asOf")
        let rule = try parsePrice(value, path: path, nested: false)
        if rule == .free {
            if asOf != nil {
                throw AtelierError(.invalidValue, "a free price has no date", field: r.pointer("asOf"))
            }
            return (rule, nil)
        }
        guard let asOf else {
            throw AtelierError(
                .missingField, "asOf is required: the day this price was read from the provider's price list (YYYY-MM-DD)",
                field: r.pointer("asOf"))
        }
        try validatePriceDate(asOf, field: r.pointer("asOf"))
        return (rule, asOf)
    }

    /// `YYYY-MM-DD`, a real calendar day, not after today (UTC, a day's grace for time zones).
    static func validatePriceDate(_ text: String, field: String, now: Timestamp = .now()) throws(AtelierError) {
        let digits = text.utf8.enumerated().allSatisfy { i, c in (i == 4 || i == 7) ? c == UInt8(ascii: "-") : (c >= 48 && c <= 57) }
        guard text.utf8.count == 10, digits, let day = Timestamp(iso8601: text + "T00:00:00.000Z"), day.iso8601.hasPrefix(text) else {
            throw AtelierError(.invalidValue, "asOf must be a date written YYYY-MM-DD, not '\(text)'", field: field)
        }
        if day.milliseconds > now.milliseconds + 86_400_000 {
            throw AtelierError(.invalidValue, "asOf \(text) is in the future: a price can only have been read on or before today", field: field)
        }
    }

    static func parsePrice(_ value: JSONValue, path: String, nested: Bool = false) throws(AtelierError) -> PriceRule {
        var r = try FieldReader(value, path: path)
        let kind = try r.requiredString("kind")
        if !nested { _ = try r.string("asOf") }  // read by parseDatedPrice
        let rule: PriceRule
        switch kind {
        case "free":
            rule = .free
        case "perImage":
            guard let usd = try nonNegative(&r, "usd") else { throw AtelierError(.missingField, "usd is required", field: r.pointer("usd")) }
            rule = .perImage(usd: usd, perInputImageUSD: try nonNegative(&r, "perInputImageUSD") ?? 0)
        case "perTier":
            guard var t = try r.nested("usd") else {
                throw AtelierError(.missingField, "usd (a tier → price map) is required", field: r.pointer("usd"))
            }
            var table: [ResolutionTier: Double] = [:]
            for (k, _) in t.object {
                guard let tier = ResolutionTier(parsing: k) else {
                    throw AtelierError(.invalidValue, "unknown tier '\(k)'", field: t.pointer(k), details: ["allowed": ["512", "1K", "2K", "4K"]])
                }
                table[tier] = try nonNegative(&t, k)
            }
            if table.isEmpty { throw AtelierError(.invalidValue, "price table is empty", field: t.path) }
            try t.finish()
            rule = .perTier(usd: table, perInputImageUSD: try nonNegative(&r, "perInputImageUSD") ?? 0)
        case "perMegapixel":
            guard let f = try nonNegative(&r, "firstMegapixelUSD") else {
                throw AtelierError(.missingField, "firstMegapixelUSD is required", field: r.pointer("firstMegapixelUSD"))
            }
            rule = .perMegapixel(
                firstMegapixelUSD: f, extraMegapixelUSD: try nonNegative(&r, "extraMegapixelUSD") ?? 0,
                inputMegapixelUSD: try nonNegative(&r, "inputMegapixelUSD") ?? 0)
        case "unknown" where !nested:
            // No published price: the ceiling (the most one image could cost) is what budgets and caps count.
            guard let c = r.raw("ceiling") else {
                throw AtelierError(
                    .missingField, "an unknown price needs a ceiling: the most one image could cost, counted by budgets and maxCostUSD",
                    field: r.pointer("ceiling"))
            }
            let ceiling = try parsePrice(c, path: r.pointer("ceiling"), nested: true)
            if ceiling == .free {
                throw AtelierError(.invalidValue, "the ceiling of an unknown price cannot be free", field: r.pointer("ceiling") + "/kind")
            }
            rule = .unknown(ceiling: ceiling)
        default:
            let allowed: JSONValue = nested ? ["perImage", "perTier", "perMegapixel"] : ["free", "perImage", "perTier", "perMegapixel", "unknown"]
            throw AtelierError(.invalidValue, "unknown price kind '\(kind)'", field: r.pointer("kind"), details: ["allowed": allowed])
        }
        try r.finish()
        return rule
    }
}
