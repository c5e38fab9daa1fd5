/// A FIFO of job ids with O(1) amortised push and pop and cheap removal by id (cancellation).
struct JobQueue: Sendable {
    private var items: [String] = []
    private var head = 0
    private var removed: Set<String> = []

    var isEmpty: Bool { count == 0 }
    var count: Int { items.count - head - removed.count }

    mutating func push(_ id: String) {
        removed.remove(id)
        items.append(id)
    }

    mutating func pop() -> String? {
        while head < items.count {
            let id = items[head]
            head += 1
            if head > 1024 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            if removed.remove(id) != nil { continue }
            return id
        }
        return nil
    }

    /// Marks `id` as removed (skipped when popped).
    mutating func remove(_ id: String) {
        if items[head...].contains(id) { removed.insert(id) }
    }
}
