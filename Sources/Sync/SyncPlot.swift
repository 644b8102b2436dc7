import Foundation
import Media
import Vision

/// The picture of an offset reading (`lipsync offset --plot`): per track, the distance curve over
/// the shifts tried with the chosen shift marked, and the framewise confidence over time in
/// seconds. One row of two panels per track.
public enum SyncPlot {
    static let ink: (UInt8, UInt8, UInt8) = (30, 30, 30)
    static let grid: (UInt8, UInt8, UInt8) = (225, 225, 225)
    static let curve: (UInt8, UInt8, UInt8) = (40, 90, 200)
    static let chosen: (UInt8, UInt8, UInt8) = (220, 50, 40)
    static let zero: (UInt8, UInt8, UInt8) = (150, 150, 150)

    public static func render(_ tracks: [TrackOffset], fps: Double, title: String) -> RGBImage {
        let panelW = 560, panelH = 260, margin = (left: 64, right: 24, top: 44, bottom: 44), header = 36
        let rowH = panelH + margin.top + margin.bottom
        let width = 2 * (panelW + margin.left + margin.right)
        var img = RGBImage(width: width, height: header + max(1, tracks.count) * rowH,
                           pixels: [UInt8](repeating: 255, count: width * (header + max(1, tracks.count) * rowH) * 3))
        img.drawText(title, x: 12, y: 10, scale: 2, color: ink)
        if tracks.isEmpty { img.drawText("no face track of at least 1 s", x: 12, y: header + 20, scale: 2, color: chosen) }
        for (row, t) in tracks.enumerated() {
            let top = header + row * rowH + margin.top
            // Left: distance against shift.
            let shifts = t.distCurve.indices.map { Double($0 - t.distCurve.count / 2) }
            let left = Chart(x: margin.left, y: top, width: panelW, height: panelH,
                             xRange: (shifts.first ?? -1)...(shifts.last ?? 1), yRange: Chart.range(t.distCurve))
            left.drawFrame(into: &img, xLabel: "audio shift (frames; + = audio late)", yLabel: "distance")
            left.vertical(0, into: &img, color: zero)
            left.vertical(t.audioDelayFramesRefined, into: &img, color: chosen)
            left.line(zip(shifts, t.distCurve).map { ($0, $1) }, into: &img, color: curve)
            let delay = String(format: "track %d: audio %@ %.0f ms (%d frames)  confidence %.2f  %@", t.track,
                               t.audioDelayMs >= 0 ? "late" : "early", abs(t.audioDelayMs), t.audioDelayFrames, t.confidence, t.method.rawValue)
            img.drawText(delay, x: margin.left, y: top - 30, scale: 2, color: ink)
            // Right: framewise confidence against time.
            let times = t.framewiseConfidence.indices.map { Double(t.startFrame + $0) / fps }
            let lo = Double(t.startFrame) / fps, hi = max(lo + 1 / fps, Double(t.endFrame) / fps)
            let right = Chart(x: 2 * margin.left + margin.right + panelW, y: top, width: panelW, height: panelH,
                              xRange: lo...hi, yRange: Chart.range(t.framewiseConfidence + [0]))
            right.drawFrame(into: &img, xLabel: "time (s)", yLabel: "framewise confidence")
            right.horizontal(0, into: &img, color: zero)
            right.line(zip(times, t.framewiseConfidence).map { ($0, $1) }, into: &img, color: curve)
        }
        return img
    }
}

/// One plotting area: data ranges mapped onto a pixel rectangle, with axes, ticks and labels.
struct Chart {
    var x: Int, y: Int, width: Int, height: Int
    var xRange: ClosedRange<Double>, yRange: ClosedRange<Double>

    /// The finite values' range with 5 % headroom each side (a flat curve gets a unit-wide range).
    static func range(_ v: [Double]) -> ClosedRange<Double> {
        let f = v.filter(\.isFinite)
        guard let lo = f.min(), let hi = f.max() else { return 0...1 }
        if hi - lo < 1e-9 { return (lo - 0.5)...(hi + 0.5) }
        let pad = 0.05 * (hi - lo)
        return (lo - pad)...(hi + pad)
    }

    func px(_ v: Double) -> Double {
        Double(x) + (v - xRange.lowerBound) / max(1e-12, xRange.upperBound - xRange.lowerBound) * Double(width)
    }
    func py(_ v: Double) -> Double {
        Double(y + height) - (v - yRange.lowerBound) / max(1e-12, yRange.upperBound - yRange.lowerBound) * Double(height)
    }

    /// 1, 2 or 5 times a power of ten, giving about five ticks over `r`.
    static func ticks(_ r: ClosedRange<Double>) -> [Double] {
        let span = r.upperBound - r.lowerBound
        guard span > 0, span.isFinite else { return [] }
        let raw = span / 5, p = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * p }.first { $0 >= raw } ?? 10 * p
        var out: [Double] = []
        var t = ceil(r.lowerBound / step) * step
        while t <= r.upperBound + 1e-9 { out.append(abs(t) < 1e-12 ? 0 : t); t += step }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        return abs(v) >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }

    func drawFrame(into img: inout RGBImage, xLabel: String, yLabel: String) {
        for t in Self.ticks(xRange) {
            let X = px(t)
            img.drawLine(X, Double(y), X, Double(y + height), color: SyncPlot.grid)
            let s = Self.label(t), w = RGBImage.textSize(s, scale: 1).width
            img.drawText(s, x: Int(X) - w / 2, y: y + height + 6, scale: 1, color: SyncPlot.ink)
        }
        for t in Self.ticks(yRange) {
            let Y = py(t)
            img.drawLine(Double(x), Y, Double(x + width), Y, color: SyncPlot.grid)
            let s = Self.label(t), w = RGBImage.textSize(s, scale: 1).width
            img.drawText(s, x: x - w - 6, y: Int(Y) - 3, scale: 1, color: SyncPlot.ink)
        }
        img.drawRect(x: Double(x), y: Double(y), width: Double(width), height: Double(height), color: SyncPlot.ink, thickness: 1)
        let w = RGBImage.textSize(xLabel, scale: 1).width
        img.drawText(xLabel, x: x + (width - w) / 2, y: y + height + 22, scale: 1, color: SyncPlot.ink)
        img.drawText(yLabel, x: x, y: y - 12, scale: 1, color: SyncPlot.ink)
    }

    func line(_ points: [(Double, Double)], into img: inout RGBImage, color: (UInt8, UInt8, UInt8)) {
        var previous: (Double, Double)?
        for (a, b) in points {
            guard b.isFinite else { previous = nil; continue }
            let p = (px(a), py(b))
            if let q = previous { img.drawLine(q.0, q.1, p.0, p.1, color: color, thickness: 2) }
            previous = p
        }
    }

    func vertical(_ v: Double, into img: inout RGBImage, color: (UInt8, UInt8, UInt8)) {
        guard xRange.contains(v) else { return }
        img.drawLine(px(v), Double(y), px(v), Double(y + height), color: color, thickness: 2)
    }

    func horizontal(_ v: Double, into img: inout RGBImage, color: (UInt8, UInt8, UInt8)) {
        guard yRange.contains(v) else { return }
        img.drawLine(Double(x), py(v), Double(x + width), py(v), color: color)
    }
}
