extension RGBImage {
    /// This image resized to `width × height` by area averaging each channel (the same weights as
    /// ``LumaPlane/resized(width:height:)``), rounded to the nearest 8-bit value. Deterministic: the same image
    /// and size give the same bytes. Equal sizes return the image unchanged.
    ///
    /// - Precondition: `width` and `height` are at least 1.
    public func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth >= 1 && newHeight >= 1, "RGBImage dimensions must be positive")
        if newWidth == width && newHeight == height { return self }
        let planes = (0..<3).map { c in
            pixels.withUnsafeBufferPointer { p in
                LumaPlane.areaResize(width: width, height: height, to: newWidth, newHeight) { Double(p[$0 * 3 + c]) }
            }
        }
        let count = newWidth * newHeight
        var out = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            for c in 0..<3 { out[i * 3 + c] = UInt8(min(255, max(0, planes[c][i].rounded()))) }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)!
    }
}
