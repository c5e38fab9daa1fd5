/// "Did you mean …?" hints for configuration and request errors.
enum Suggestion {
    /// The closest of `candidates` to `word` (edit distance ≤ 2, or a case-insensitive prefix match), or nil when
    /// none is close.
    static func closest(_ word: String, _ candidates: [String]) -> String? {
        let w = Array(word.lowercased())
        var best: (String, Int)?
        let lw = word.lowercased()
        for c in candidates {
            let lc = c.lowercased()
            let d = distance(w, Array(lc))
            let close = d <= max(2, w.count / 4) || (lw.count >= 3 && (lc.hasPrefix(lw) || lw.hasPrefix(lc)))
            if close, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// The Levenshtein distance between `a` and `b` (two rows, O(|a|·|b|) time).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = prev
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
