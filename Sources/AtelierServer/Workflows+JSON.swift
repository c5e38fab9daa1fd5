import AtelierCore
import AtelierEngine

// The wire form of the workflow service's and reproduction's answers (docs/protocol.md): the engine returns typed
// values, the server renders them here, member order included.

extension WorkflowView {
    /// A workflow as `workflow.get` answers it: the document with each stage's live job.
    var json: JSONValue { workflow.json(jobs: jobs) }
}

extension WorkflowPage {
    /// `{workflows: [summary…], nextCursor}`.
    var json: JSONValue {
        ["workflows": .array(workflows.map(\.summaryJSON)), "nextCursor": nextCursor.map { .string(String($0)) } ?? .null]
    }
}

extension ReproductionReport {
    /// `{taskUUID, reproductionTaskUUID, status, identical, images, differences, job}`; `identical` is null while the
    /// reproduction is unfinished.
    var json: JSONValue {
        let images: [JSONValue] = images.map { x in
            var o = JSONObject()
            o.append("index", .int(Int64(x.index)))
            o.append("imageUUID", .string(x.imageUUID))
            o.append("sha256", .string(x.sha256))
            o.append("reproducedImageUUID", x.reproducedImageUUID.map(JSONValue.string) ?? .null)
            o.append("reproducedSHA256", x.reproducedSHA256.map(JSONValue.string) ?? .null)
            o.append("reproducedPath", x.reproducedPath.map(JSONValue.string) ?? .null)
            o.append("identical", .bool(x.identical))
            return .object(o)
        }
        var o = JSONObject()
        o.append("taskUUID", .string(taskUUID))
        o.append("reproductionTaskUUID", .string(reproduction.taskUUID))
        o.append("status", .string(reproduction.status.rawValue))
        o.append("identical", identical.map(JSONValue.bool) ?? .null)
        o.append("images", .array(images))
        o.append("differences", .array(differences.map(JSONValue.string)))
        o.append("job", reproduction.json)
        return .object(o)
    }
}
