import Foundation
import Synchronization

/// Splits a byte stream that arrives in chunks (a child process's stderr read by a `readabilityHandler`) into
/// complete lines, keeping a partial last line until its newline comes. Safe to feed from any thread.
public final class LineSplitter: Sendable {
    private let partial = Mutex(Data())

    public init() {}

    /// Adds `chunk` and returns the lines it completed, without their newlines, in order.
    public func feed(_ chunk: Data) -> [String] {
        partial.withLock { p in
            p.append(chunk)
            var out: [String] = []
            while let nl = p.firstIndex(of: 0x0A) {
                out.append(String(decoding: p[p.startIndex..<nl], as: UTF8.self))
                p.removeSubrange(p.startIndex...nl)
            }
            return out
        }
    }
}
