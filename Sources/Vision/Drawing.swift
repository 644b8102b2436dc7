import Media

/// Minimal raster drawing for annotated output: lines, rectangles, polylines and digits.
extension RGBImage {
    public mutating func plot(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    public mutating func drawLine(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double,
                                  color: (UInt8, UInt8, UInt8), thickness: Int = 1) {
        let steps = Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up)) + 1
        let r = thickness / 2
        for s in 0...steps {
            let t = Double(s) / Double(max(1, steps))
            let x = Int((x0 + (x1 - x0) * t).rounded()), y = Int((y0 + (y1 - y0) * t).rounded())
            for dy in -r...r { for dx in -r...r { plot(x + dx, y + dy, color) } }
        }
    }

    public mutating func drawPolyline(_ pts: [SIMD2<Double>], closed: Bool, color: (UInt8, UInt8, UInt8), thickness: Int = 1) {
        guard pts.count > 1 else { return }
        for i in 0..<(pts.count - (closed ? 0 : 1)) {
            let a = pts[i], b = pts[(i + 1) % pts.count]
            drawLine(a.x, a.y, b.x, b.y, color: color, thickness: thickness)
        }
    }

    public mutating func drawRect(x: Double, y: Double, width w: Double, height h: Double, color: (UInt8, UInt8, UInt8), thickness: Int = 2) {
        drawPolyline([SIMD2(x, y), SIMD2(x + w, y), SIMD2(x + w, y + h), SIMD2(x, y + h)], closed: true, color: color, thickness: thickness)
    }

    /// Digits in a 3x5 bitmap font, `scale` pixels per dot, top-left at (x, y).
    public mutating func drawNumber(_ n: Int, x: Int, y: Int, scale: Int = 3, color: (UInt8, UInt8, UInt8)) {
        let glyphs: [[UInt8]] = [[7, 5, 5, 5, 7], [2, 6, 2, 2, 7], [7, 1, 7, 4, 7], [7, 1, 7, 1, 7], [5, 5, 7, 1, 1],
                                 [7, 4, 7, 1, 7], [7, 4, 7, 5, 7], [7, 1, 1, 1, 1], [7, 5, 7, 5, 7], [7, 5, 7, 1, 7]]
        for (k, ch) in String(n).enumerated() {
            guard let d = ch.wholeNumberValue else { continue }
            for (row, bits) in glyphs[d].enumerated() {
                for col in 0..<3 where bits & (4 >> col) != 0 {
                    for sy in 0..<scale { for sx in 0..<scale { plot(x + (k * 4 + col) * scale + sx, y + row * scale + sy, color) } }
                }
            }
        }
    }
}
