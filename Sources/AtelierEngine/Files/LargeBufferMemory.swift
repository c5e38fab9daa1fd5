#if canImport(Glibc)
    import Glibc
#endif

/// How the daemon's allocator treats the multi-megabyte buffers of image results (provider response bodies decoded
/// in place).
///
/// By default glibc raises its mmap threshold after a large block is freed, so later blocks of that size come from
/// the per-thread arenas and stay resident after they are freed. With 16 concurrent 8 MiB Gemini results that kept
/// the daemon at 210 MB RSS; with a fixed 256 KiB threshold and two arenas every large body is mapped for its job
/// and returned when it ends: 100 MB, at the same CPU per 2 MB job (scripts/bench-vs-litellm).
public enum LargeBufferMemory {
    /// Applies the policy (once, at start; a no-op where glibc's `mallopt` is not found).
    public static func apply() {
        #if canImport(Glibc)
            guard let symbol = dlsym(nil, "mallopt") else { return }
            let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
            let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
            let arenaMax: Int32 = -8  // M_ARENA_MAX
            _ = mallopt(mmapThreshold, 256 * 1024)
            _ = mallopt(arenaMax, 2)
        #endif
    }
}
