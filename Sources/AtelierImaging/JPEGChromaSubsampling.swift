/// How ``JPEGEncoder`` samples the two chroma channels.
public enum JPEGChromaSubsampling: Sendable, Equatable, CaseIterable {
    /// Chroma at half resolution in both directions (the common "4:2:0"); smaller files.
    case yuv420
    /// Chroma at full resolution ("4:4:4"); sharper colour edges, e.g. for text or UI art.
    case yuv444
}
