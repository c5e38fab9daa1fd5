import Testing

/// Polls `condition` until it holds or `timeout` passes. On timeout it records an `Issue` (at the caller's source
/// location, with `comment`) and returns false, so a wait that never ends fails loudly where it waited instead of
/// surfacing later as a confusing expectation.
///
/// This replaces hand-written `while Date() < deadline { …; try await Task.sleep(…) }` loops. The sleep between
/// polls only paces the polling; it never stands in for synchronisation, since the condition decides.
@discardableResult
public func eventually(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(20), _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws -> Bool {
    try await eventuallyValue(timeout: timeout, every: interval, comment, sourceLocation: sourceLocation) {
        try await condition() ? true : nil
    } ?? false
}

/// Polls `produce` until it returns a value or `timeout` passes; returns that value. On timeout it records an
/// `Issue` at the caller's source location and returns nil.
public func eventuallyValue<T>(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(20), _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ produce: () async throws -> T?
) async throws -> T? {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if let value = try await produce() { return value }
        if clock.now >= deadline { break }
        try await clock.sleep(for: interval)
    }
    var text = "timed out after \(timeout)"
    if let comment { text += ": \(comment.rawValue)" }
    Issue.record(Comment(rawValue: text), sourceLocation: sourceLocation)
    return nil
}
