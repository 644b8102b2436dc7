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

/// A 5 x 7 bitmap font for labels on plots and annotated video: digits, capitals (lower case is
/// drawn in capitals) and the punctuation numbers and units need. Each glyph is 7 rows of 5 bits,
/// the high bit on the left.
enum BitmapFont {
    static let width = 5, height = 7, advance = 6

    static let glyphs: [Character: [UInt8]] = [
        "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        " ": [0, 0, 0, 0, 0, 0, 0], ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0], ";": [0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08], "-": [0, 0, 0, 0x1F, 0, 0, 0], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03], "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        "=": [0, 0, 0x1F, 0, 0x1F, 0, 0], "_": [0, 0, 0, 0, 0, 0, 0x1F], "'": [0x04, 0x04, 0x08, 0, 0, 0, 0],
        "<": [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02], ">": [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        "#": [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A], "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    ]

    static func glyph(_ c: Character) -> [UInt8] {
        glyphs[c] ?? glyphs[Character(c.uppercased())] ?? glyphs["?"]!
    }
}

extension RGBImage {
    /// Size of `text` drawn at `scale` pixels per dot.
    public static func textSize(_ text: String, scale: Int) -> (width: Int, height: Int) {
        (max(0, text.count * BitmapFont.advance - 1) * scale, BitmapFont.height * scale)
    }

    /// `text` with its top-left at (x, y); with `background`, on a filled box one dot wider all round.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 2, color: (UInt8, UInt8, UInt8),
                                  background: (UInt8, UInt8, UInt8)? = nil) {
        if let bg = background {
            let (w, h) = Self.textSize(text, scale: scale)
            fillRect(x: x - scale, y: y - scale, width: w + 2 * scale, height: h + 2 * scale, color: bg)
        }
        for (k, ch) in text.enumerated() {
            for (row, bits) in BitmapFont.glyph(ch).enumerated() {
                for col in 0..<BitmapFont.width where bits & (0x10 >> UInt8(col)) != 0 {
                    for sy in 0..<scale {
                        for sx in 0..<scale { plot(x + (k * BitmapFont.advance + col) * scale + sx, y + row * scale + sy, color) }
                    }
                }
            }
        }
    }

    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, color: (UInt8, UInt8, UInt8)) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 {
                let i = (yy * width + xx) * 3
                pixels[i] = color.0; pixels[i + 1] = color.1; pixels[i + 2] = color.2
            }
        }
    }
}
