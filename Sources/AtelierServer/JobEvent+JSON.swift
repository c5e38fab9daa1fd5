import AtelierCore
import AtelierEngine

extension JobEvent {
    /// The `job.event` notification params (docs/protocol.md): `{taskUUID, status, event, result?, job}`.
    var json: JSONValue {
        var o: JSONObject = ["taskUUID": .string(job.taskUUID), "status": .string(job.status.rawValue), "event": .string(event.rawValue)]
        o.append("result", ifPresent: result?.json)
        o.append("job", job.json)
        return .object(o)
    }
}
