import AtelierCore
import Foundation
import Synchronization

/// Settings of webhook and upload delivery. The daemon fills them from flags.
public struct DeliveryConfiguration: Sendable {
    /// When webhook attempts happen (default: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    public var webhookSchedule: RetrySchedule
    /// When upload attempts happen.
    public var uploadSchedule: RetrySchedule
    /// One webhook attempt's limit, connect to last byte.
    public var webhookTimeoutSeconds: Double
    /// One upload attempt's limit.
    public var uploadTimeoutSeconds: Double
    /// Attempts in flight to one host (scheme, host, port) at once.
    public var perHostConcurrency: Int
    /// Attempts in flight in total.
    public var maxConcurrency: Int
    /// Which addresses may be reached.
    public var addressPolicy: AddressPolicy
    /// The most response-body bytes read from a receiver (the rest is dropped with the connection).
    public var maxResponseBytes: Int
    /// How long a graceful shutdown lets attempts in flight finish (the rest are sent again at the next start).
    public var shutdownGraceSeconds: Double
    /// Random numbers in 0..<1 for jitter (injectable).
    public var random: @Sendable () -> Double

    public init(
        webhookSchedule: RetrySchedule = .webhookDefault, uploadSchedule: RetrySchedule = .uploadDefault, webhookTimeoutSeconds: Double = 15,
        uploadTimeoutSeconds: Double = 300, perHostConcurrency: Int = 16, maxConcurrency: Int = 256, addressPolicy: AddressPolicy = AddressPolicy(),
        maxResponseBytes: Int = 64 << 10, shutdownGraceSeconds: Double = 5, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.webhookSchedule = webhookSchedule
        self.uploadSchedule = uploadSchedule
        self.webhookTimeoutSeconds = webhookTimeoutSeconds
        self.uploadTimeoutSeconds = uploadTimeoutSeconds
        self.perHostConcurrency = max(1, perHostConcurrency)
        self.maxConcurrency = max(1, maxConcurrency)
        self.addressPolicy = addressPolicy
        self.maxResponseBytes = maxResponseBytes
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.random = random
    }

    func schedule(_ kind: DeliveryKind) -> RetrySchedule { kind == .webhook ? webhookSchedule : uploadSchedule }
    func timeout(_ kind: DeliveryKind) -> Double { kind == .webhook ? webhookTimeoutSeconds : uploadTimeoutSeconds }
}

/// Wakes the delivery worker: after a transaction that added due rows commits, when an attempt finishes, on
/// `delivery.retry`. Signals coalesce; a signal sent while nobody waits is kept for the next wait.
public final class DeliveryWakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterID: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Wakes the waiter (or the next one).
    public func signal() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        w?.resume()
    }

    /// Returns at the next signal, at `deadlineMs` on `clock` (nil: no deadline), or when the task is cancelled.
    func wait(untilMs deadlineMs: Int64?, clock: AtelierClock) async {
        if let d = deadlineMs, d <= clock.timestamp.milliseconds {
            state.withLock { $0.pending = false }
            return
        }
        if state.withLock({ s in
            defer { s.pending = false }
            return s.pending
        }) {
            return
        }
        let timer: Task<Void, Never>? = deadlineMs.map { d in
            Task { [weak self] in
                do { try await clock.sleep(until: Timestamp(milliseconds: d)) } catch { return }
                self?.signal()
            }
        }
        defer { timer?.cancel() }
        let id = state.withLock { s -> UInt64 in
            s.waiterID += 1
            return s.waiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard s.waiterID == id else { return nil }
                defer { s.waiter = nil }
                return s.waiter
            }
            w?.resume()
        }
    }
}
