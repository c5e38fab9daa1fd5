/// A set of catalog models by index, stored inline (no allocation) for catalogs of up to ``capacity`` models.
///
/// Routing works on masks so that a decision combines the policy's `require`/`exclude` actions, the runtime
/// availability and the builtin switch with a few bit operations instead of string lookups.
struct ModelMask: Sendable, Equatable {
    /// The most models a routable catalog may hold.
    static let capacity = 256

    var w0: UInt64 = 0
    var w1: UInt64 = 0
    var w2: UInt64 = 0
    var w3: UInt64 = 0

    static let none = ModelMask()

    /// All models `0..<count`.
    static func all(_ count: Int) -> ModelMask {
        var m = ModelMask()
        for i in 0..<min(count, capacity) { m.insert(i) }
        return m
    }

    @inline(__always)
    func contains(_ i: Int) -> Bool {
        let bit = UInt64(1) << UInt64(i & 63)
        switch i >> 6 {
        case 0: return w0 & bit != 0
        case 1: return w1 & bit != 0
        case 2: return w2 & bit != 0
        case 3: return w3 & bit != 0
        default: return false
        }
    }

    @inline(__always)
    mutating func insert(_ i: Int) {
        let bit = UInt64(1) << UInt64(i & 63)
        switch i >> 6 {
        case 0: w0 |= bit
        case 1: w1 |= bit
        case 2: w2 |= bit
        case 3: w3 |= bit
        default: break
        }
    }

    @inline(__always)
    mutating func remove(_ i: Int) {
        let bit = ~(UInt64(1) << UInt64(i & 63))
        switch i >> 6 {
        case 0: w0 &= bit
        case 1: w1 &= bit
        case 2: w2 &= bit
        case 3: w3 &= bit
        default: break
        }
    }

    @inline(__always)
    static func & (a: ModelMask, b: ModelMask) -> ModelMask {
        ModelMask(w0: a.w0 & b.w0, w1: a.w1 & b.w1, w2: a.w2 & b.w2, w3: a.w3 & b.w3)
    }

    @inline(__always)
    static func | (a: ModelMask, b: ModelMask) -> ModelMask {
        ModelMask(w0: a.w0 | b.w0, w1: a.w1 | b.w1, w2: a.w2 | b.w2, w3: a.w3 | b.w3)
    }

    @inline(__always)
    func subtracting(_ b: ModelMask) -> ModelMask {
        ModelMask(w0: w0 & ~b.w0, w1: w1 & ~b.w1, w2: w2 & ~b.w2, w3: w3 & ~b.w3)
    }

    var isEmpty: Bool { (w0 | w1 | w2 | w3) == 0 }
    var count: Int { w0.nonzeroBitCount + w1.nonzeroBitCount + w2.nonzeroBitCount + w3.nonzeroBitCount }

    /// The member indices in ascending order.
    var indices: [Int] {
        var out: [Int] = []
        for i in 0..<ModelMask.capacity where contains(i) { out.append(i) }
        return out
    }
}
