import AtelierCore
import AtelierEngine
import AtelierRPC

extension RPCDispatcher {
    /// `workflow.*`, `job.reproduce`, `job.recipe`.
    static let workflowHandlers: [String: Handler] = [
        RPCMethod.workflowSubmit: { d, params, _ throws(AtelierError) in
            try await d.workflowService().submit(try WorkflowSpec(json: params)).json
        },
        RPCMethod.workflowGet: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("workflowUUID")
            try r.finish()
            return try await d.workflowService().get(id).json
        },
        RPCMethod.workflowWait: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("workflowUUID")
            let timeout = try r.timeoutSeconds(default: 30)
            try r.finish()
            return try await d.workflowService().wait(id, timeoutSeconds: timeout).json
        },
        RPCMethod.workflowSelect: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("workflowUUID")
            let image = try r.requiredUUID("imageUUID")
            try r.finish()
            return try await d.workflowService().select(id, imageUUID: image).json
        },
        RPCMethod.workflowCancel: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("workflowUUID")
            try r.finish()
            return try await d.workflowService().cancel(id).json
        },
        RPCMethod.workflowList: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let state = try r.enumValue("state", allowed: WorkflowState.allCases, what: "state")
            let (limit, cursor) = try r.page()
            try r.finish()
            return try await d.workflowService().list(state: state, limit: limit, cursor: cursor).json
        },
        RPCMethod.jobReproduce: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("taskUUID")
            let newID = try r.uuid("reproductionTaskUUID")
            let timeout = try r.timeoutSeconds(default: 600)
            try r.finish()
            return try await d.engine.reproduce(id, reproductionTaskUUID: newID, timeoutSeconds: timeout).json
        },
        RPCMethod.jobRecipe: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try r.requiredUUID("taskUUID")
            let image = try r.uuid("imageUUID")
            try r.finish()
            return try await d.engine.recipe(id, imageUUID: image).json
        },
    ]

    /// The workflow service, or an error when this daemon runs without one.
    func workflowService() throws(AtelierError) -> WorkflowService {
        guard let w = services.workflows else { throw AtelierError(.internalError, "workflows are not enabled in this daemon") }
        return w
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
