import AtelierCore
import AtelierEngine
import AtelierRPC

extension RPCDispatcher {
    /// `workflow.*`, `job.reproduce`, `job.recipe`.
    static let workflowHandlers: [String: Handler] = [
        RPCMethod.workflowSubmit: { d, params, _ throws(AtelierError) in
            try await d.workflowService().submit(try WorkflowSpec(json: params))
        },
        RPCMethod.workflowGet: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try RPCDispatcher.taskUUID(&r, key: "workflowUUID")
            try r.finish()
            return try await d.workflowService().get(id)
        },
        RPCMethod.workflowWait: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try RPCDispatcher.taskUUID(&r, key: "workflowUUID")
            let timeout = try RPCDispatcher.timeout(&r, default: 30)
            try r.finish()
            return try await d.workflowService().wait(id, timeoutSeconds: timeout)
        },
        RPCMethod.workflowSelect: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try RPCDispatcher.taskUUID(&r, key: "workflowUUID")
            let image = try RPCDispatcher.taskUUID(&r, key: "imageUUID")
            try r.finish()
            return try await d.workflowService().select(id, imageUUID: image)
        },
        RPCMethod.workflowCancel: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try RPCDispatcher.taskUUID(&r, key: "workflowUUID")
            try r.finish()
            return try await d.workflowService().cancel(id)
        },
        RPCMethod.workflowList: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let state = try RPCDispatcher.oneOf(&r, "state", WorkflowState.allCases, what: "state")
            let (limit, cursor) = try RPCDispatcher.page(&r)
            try r.finish()
            return try await d.workflowService().list(state: state, limit: limit, cursor: cursor)
        },
        RPCMethod.jobReproduce: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try RPCDispatcher.taskUUID(&r)
            var newID: String?
            if r.has("reproductionTaskUUID") { newID = try RPCDispatcher.taskUUID(&r, key: "reproductionTaskUUID") }
            let timeout = try RPCDispatcher.timeout(&r, default: 600)
            try r.finish()
            return try await d.engine.reproduce(id, reproductionTaskUUID: newID, timeoutSeconds: timeout)
        },
        RPCMethod.jobRecipe: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try RPCDispatcher.taskUUID(&r)
            var image: String?
            if r.has("imageUUID") { image = try RPCDispatcher.taskUUID(&r, key: "imageUUID") }
            try r.finish()
            return try await d.engine.recipe(id, imageUUID: image)
        },
    ]

    /// The workflow service, or an error when this daemon runs without one.
    func workflowService() throws(AtelierError) -> WorkflowService {
        guard let w = services.workflows else { throw AtelierError(.internalError, "workflows are not enabled in this daemon") }
        return w
    }

    /// An optional `timeoutSeconds` (0–3600).
    static func timeout(_ r: inout FieldReader, default value: Double) throws(AtelierError) -> Double {
        let t = try r.double("timeoutSeconds") ?? value
        guard t >= 0, t <= 3600 else {
            throw AtelierError(.invalidValue, "timeoutSeconds must be between 0 and 3600", field: r.pointer("timeoutSeconds"))
        }
        return t
    }
}

extension DaemonServices {
    /// These services with the workflow service.
    public func adding(workflows: WorkflowService) -> DaemonServices {
        var s = self
        s.workflows = workflows
        return s
    }
}
