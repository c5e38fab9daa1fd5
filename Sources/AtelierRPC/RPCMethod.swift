/// Every method name of the protocol (docs/protocol.md), in one place: the server's handler table, the client's
/// typed methods, the CLI and the benchmark all spell a method through these constants, so a misspelt name is a
/// compile error. A new method adds its constant here and to ``requests``.
public enum RPCMethod {
    // MARK: Jobs

    /// Stores a task durably and returns the queued job.
    public static let jobSubmit = "job.submit"
    /// One job by `taskUUID`.
    public static let jobGet = "job.get"
    /// A job once finished, or as it is when the timeout passes.
    public static let jobWait = "job.wait"
    /// Cancels a queued or running job.
    public static let jobCancel = "job.cancel"
    /// Jobs, newest first, paged.
    public static let jobList = "job.list"
    /// Pushes `job.event` notifications for one job, or all, on this connection.
    public static let jobSubscribe = "job.subscribe"
    /// Stops `job.event` notifications.
    public static let jobUnsubscribe = "job.unsubscribe"
    /// Runs a job's recipe again and compares the images.
    public static let jobReproduce = "job.reproduce"
    /// A job's recipe (what `submit --recipe` accepts).
    public static let jobRecipe = "job.recipe"
    /// The notification the server pushes to subscribers (not a request).
    public static let jobEvent = "job.event"
    /// The notification telling a subscriber that fell behind how many `job.event`s it lost (not a request).
    public static let jobEventsDropped = "job.events_dropped"

    // MARK: Routing and models

    /// Why the router would pick a model for a task, without running it.
    public static let routeExplain = "route.explain"
    /// The catalog's models with their availability.
    public static let modelsList = "models.list"
    /// Asks each provider with a key which configured model ids exist today.
    public static let modelsVerify = "models.verify"

    // MARK: Administration

    /// The daemon's condition: store, breakers, counts, delivery backlog.
    public static let daemonHealth = "daemon.health"
    /// Re-read providers and routing, validate, swap atomically.
    public static let configReload = "config.reload"
    /// Per-group statistics and budget spend.
    public static let statsGet = "stats.get"

    // MARK: Workflows

    /// Starts a hybrid workflow (ideation variants, selection, final).
    public static let workflowSubmit = "workflow.submit"
    /// One workflow by `workflowUUID`.
    public static let workflowGet = "workflow.get"
    /// A workflow once it rests (awaiting a selection or finished), or as it is when the timeout passes.
    public static let workflowWait = "workflow.wait"
    /// Chooses the variant a workflow finishes.
    public static let workflowSelect = "workflow.select"
    /// Cancels a workflow and its unfinished jobs.
    public static let workflowCancel = "workflow.cancel"
    /// Workflows, newest first, paged.
    public static let workflowList = "workflow.list"

    // MARK: Delivery

    /// Webhook and upload deliveries, paged.
    public static let deliveryList = "delivery.list"
    /// One delivery with its attempts.
    public static let deliveryGet = "delivery.get"
    /// Schedules failed deliveries again.
    public static let deliveryRetry = "delivery.retry"
    /// The webhook signing secret and where it came from.
    public static let webhookSecret = "webhook.secret"

    /// Every request method (not notifications), in the order of docs/protocol.md. The server answers exactly
    /// these (a test checks its handler table against this list).
    public static let requests: [String] = [
        jobSubmit, jobGet, jobWait, jobCancel, jobList, jobSubscribe, jobUnsubscribe, jobReproduce, jobRecipe,
        routeExplain, modelsList, modelsVerify,
        daemonHealth, configReload, statsGet,
        workflowSubmit, workflowGet, workflowWait, workflowSelect, workflowCancel, workflowList,
        deliveryList, deliveryGet, deliveryRetry, webhookSecret,
    ]
}
