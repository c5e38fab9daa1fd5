/// What a result that differs from its request (``ResultVerification``) does to the job; set by the routing
/// policy's `verification.onMismatch` (docs/routing.md).
public enum MismatchPolicy: String, Sendable, Equatable, CaseIterable {
    /// The job succeeds; the mismatches are recorded on its results (the default).
    case flag
    /// The job fails with `result_mismatch`, naming the fields; the delivered images are not kept, what the call cost
    /// is charged.
    case fail
    /// The attempt counts as failed (`result_mismatch`): retried on the same model, then fallen back within the
    /// hard constraints.
    case retry
}
