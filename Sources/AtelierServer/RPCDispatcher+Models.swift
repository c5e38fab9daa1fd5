import AtelierCore
import AtelierEngine
import AtelierRPC

extension RPCDispatcher {
    /// `models.verify`: asks each provider with a key which configured model ids exist today.
    static let modelHandlers: [String: Handler] = [
        RPCMethod.modelsVerify: { d, params, connection throws(AtelierError) in
            var r = try FieldReader(params)
            var only: Set<String>?
            if r.has("providers") {
                guard case .array(let items)? = r.raw("providers") else {
                    throw AtelierError(.invalidType, "providers must be an array of provider ids", field: r.pointer("providers"))
                }
                var ids = Set<String>()
                for (i, item) in items.enumerated() {
                    guard let s = item.stringValue, !s.isEmpty else {
                        throw AtelierError(.invalidType, "providers must be an array of provider ids", field: r.pointer("providers") + "/\(i)")
                    }
                    ids.insert(s)
                }
                only = ids
            }
            try r.finish()
            if let only {
                let known = Set(await d.engine.providerIDs)
                if let unknown = only.sorted().first(where: { !known.contains($0) }) {
                    throw AtelierError(
                        .invalidValue, "unknown provider '\(unknown.prefix(64))'", field: r.pointer("providers"),
                        details: ["allowed": .array(known.sorted().map(JSONValue.string))])
                }
            }
            return await d.engine.verifyModels(providers: only).json
        }
    ]
}
