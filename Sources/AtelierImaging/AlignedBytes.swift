import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Bytes in memory of their own, aligned to 4 KiB and always a whole number of 4 KiB blocks long, grown as bytes are
/// appended: a decoded image that is written to its file with `O_DIRECT` straight from here (direct I/O wants an
/// aligned address and whole blocks).
///
/// From ``mappedMinimum`` up the memory is an anonymous mapping of its own, never a piece of a malloc arena (aligned
/// allocations that size are carved out of glibc's arenas and leave them fragmented: 16 concurrent 2 MB images held
/// ~200 MB that way). A released mapping is kept for the next image while the spare ones total at most
/// ``spareMaximum`` (a fresh mapping costs a page fault and a zeroed page per 4 KiB, about a tenth of a 2 MB job's
/// CPU); beyond that it goes back to the system.
///
/// Not thread-safe: one task or thread at a time owns it (it is handed over, never shared).
public final class AlignedBytes: @unchecked Sendable {
    /// The alignment of the memory and the granule of its capacity.
    public static let block = 4096
    /// Capacities from this size up are mappings of their own.
    public static let mappedMinimum = 256 * 1024
    /// Spare mappings kept for reuse, in bytes at most (none larger than a quarter of it).
    public static let spareMaximum = 32 << 20

    /// Released mappings (address, size), smallest first, and their total size.
    private static let spare = Mutex<(maps: [(address: Int, size: Int)], bytes: Int)>(([], 0))

    /// The start of the memory.
    public private(set) var base: UnsafeMutablePointer<UInt8>
    /// Bytes allocated (a multiple of ``block``).
    public private(set) var capacity: Int
    /// Bytes in use, from ``base``.
    public var count: Int = 0

    /// Memory for at least `capacity` bytes (at least one block).
    public init(capacity: Int) {
        let size = Self.rounded(max(capacity, 1))
        self.base = Self.allocate(size)
        self.capacity = size
    }

    deinit { Self.release(base, size: capacity) }

    /// Makes room for `additional` more bytes after ``count`` (the memory may move: take ``end`` again after).
    public func reserve(_ additional: Int) {
        let needed = count + additional
        guard needed > capacity else { return }
        let size = Self.rounded(max(needed, capacity * 2))
        let grown = Self.allocate(size)
        grown.update(from: base, count: count)
        Self.release(base, size: capacity)
        base = grown
        capacity = size
    }

    /// Where the next byte goes.
    public var end: UnsafeMutablePointer<UInt8> { base + count }

    /// The bytes in use.
    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    /// Appends `other`.
    public func append(_ other: UnsafeBufferPointer<UInt8>) {
        guard let from = other.baseAddress, other.count > 0 else { return }
        reserve(other.count)
        end.update(from: from, count: other.count)
        count += other.count
    }

    private static func rounded(_ n: Int) -> Int { (n + block - 1) / block * block }

    private static func allocate(_ size: Int) -> UnsafeMutablePointer<UInt8> {
        if size >= mappedMinimum {
            // A spare mapping at least this large and at most twice it, else a new one.
            let reused = spare.withLock { s -> Int? in
                guard let i = s.maps.firstIndex(where: { $0.size >= size && $0.size <= 2 * size }) else { return nil }
                let m = s.maps.remove(at: i)
                s.bytes -= m.size
                return m.address
            }
            if let reused, let p = UnsafeMutablePointer<UInt8>(bitPattern: reused) { return p }
            guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
                fatalError("out of memory (\(size) bytes)")
            }
            return p.assumingMemoryBound(to: UInt8.self)
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, block, size) == 0, let raw else { fatalError("out of memory (\(size) bytes)") }
        return raw.bindMemory(to: UInt8.self, capacity: size)
    }

    private static func release(_ p: UnsafeMutablePointer<UInt8>, size: Int) {
        guard size >= mappedMinimum else { return free(p) }
        let kept = spare.withLock { s -> Bool in
            guard size <= spareMaximum / 4, s.bytes + size <= spareMaximum else { return false }
            let at = s.maps.firstIndex { $0.size >= size } ?? s.maps.count
            s.maps.insert((Int(bitPattern: p), size), at: at)
            s.bytes += size
            return true
        }
        if !kept { munmap(p, size) }
    }
}
