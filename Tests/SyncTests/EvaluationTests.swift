import XCTest
@testable import Sync

final class EvaluationTests: XCTestCase {
    typealias E = SyncEvaluation

    func pair(_ matched: Bool, _ c: Double, _ ds: String = "grid-s1") -> E.PairScore {
        let reading = TrackOffset(track: 0, startFrame: 0, endFrame: 0, audioDelayFrames: 0, audioDelayMs: 0, minDist: 0, confidence: c,
                                  framewiseConfidence: [], distCurve: [], method: .learned)
        return E.PairScore(clip: "c", dataset: ds, audioFrom: "a", matched: matched, reading: reading)
    }

    func testAUCAndF1() {
        XCTAssertEqual(E.auc([pair(true, 0.9), pair(true, 0.8), pair(false, 0.1), pair(false, 0.2)]), 1)
        XCTAssertEqual(E.auc([pair(true, 0.1), pair(false, 0.9)]), 0)
        XCTAssertEqual(E.auc([pair(true, 0.5), pair(false, 0.5)]), 0.5)
        XCTAssertNil(E.auc([pair(true, 0.5)]))
        // threshold 0.5: tp 1 (0.9), fp 1 (0.6), fn 1 (0.3) -> 2/(2+1+1)
        XCTAssertEqual(E.f1([pair(true, 0.9), pair(true, 0.3), pair(false, 0.6), pair(false, 0.1)], threshold: 0.5)!, 0.5, accuracy: 1e-12)
    }

    func testRowsCountExactAndNearShifts() {
        func r(_ shift: Int, _ predicted: Int, _ ds: String) -> E.ShiftResult {
            E.ShiftResult(clip: "\(ds)-clip", dataset: ds, shift: shift, predicted: predicted, confidence: 1, minDist: 0)
        }
        let rows = E.rows([r(0, 0, "a"), r(3, 4, "a"), r(-2, 2, "b"), r(5, 5, "b")], pairs: [], threshold: 0.2)
        XCTAssertEqual(rows.map(\.dataset), ["a", "b", "all"])
        XCTAssertEqual(rows[0].exactAccuracy, 0.5); XCTAssertEqual(rows[0].withinOneAccuracy, 1); XCTAssertEqual(rows[0].meanAbsoluteError, 0.5)
        XCTAssertEqual(rows[1].meanAbsoluteError, 2)
        XCTAssertEqual(rows[2].exactAccuracy, 0.5)
        XCTAssertNil(rows[2].auc)
    }

    func testDatasetLabels() {
        XCTAssertEqual(E.dataset(of: "../shared/data/grid/s1/bbaf2n.mpg"), "grid-s1")
        XCTAssertEqual(E.dataset(of: "../shared/data/grid/mixed/lbax4n.mpg"), "grid-unseen")
        XCTAssertEqual(E.dataset(of: "../shared/data/crema-d/1001/x.flv"), "crema-d")
    }

    /// Clips of the correlation method: a mouth opening at its own syllable times and audio bursting
    /// at the same times, so each clip fits its own audio better than another's.
    func syntheticClip(_ name: String, dataset: String, seed: UInt64) -> E.Clip {
        var state = seed
        func next() -> Double { state = state &* 6364136223846793005 &+ 1442695040888963407; return Double(state >> 11) / Double(1 << 53) }
        let frames = 75, fps = 25.0
        var onsets: [Int] = []
        var f = 2
        while f < frames - 4 { onsets.append(f); f += 4 + Int(next() * 6) }
        let mouth = (0..<frames).map { t in onsets.contains { t >= $0 && t < $0 + 3 } ? 1.0 : 0.1 }
        let samples = (0..<(frames * 640)).map { i -> Float in
            let t = i / 640
            let on = onsets.contains { t >= $0 && t < $0 + 3 }
            return Float(on ? 0.3 : 0.003) * sin(Float(i) * 0.2) * Float(0.5 + next())
        }
        return E.Clip(path: name, dataset: dataset, fps: fps, mouth: mouth, samples: samples, visual: nil)
    }

    func testSwapPlansPairTheRightClipsAndKeepOtherDatasetsApart() {
        let clips = [syntheticClip("a1", dataset: "a", seed: 1), syntheticClip("a2", dataset: "a", seed: 2),
                     syntheticClip("a3", dataset: "a", seed: 3), syntheticClip("b1", dataset: "b", seed: 4)]
        let next = E.pairs(clips, plan: .next, vshift: 5)
        XCTAssertEqual(next.filter(\.matched).count, 4)
        // b has one clip: no partner of its own dataset.
        XCTAssertEqual(next.filter { !$0.matched }.map { "\($0.clip)<\($0.audioFrom)" }, ["a1<a2", "a2<a3", "a3<a1"])
        let dataset = E.pairs(clips, plan: .dataset, vshift: 5)
        XCTAssertEqual(dataset.filter { !$0.matched }.count, 6)
        XCTAssertFalse(dataset.contains(where: \.crossDataset))
        var done: [Int] = []
        let all = E.pairs(clips, plan: .all, vshift: 5) { d, total in XCTAssertEqual(total, 4); done.append(d) }
        XCTAssertEqual(done, [1, 2, 3, 4])
        XCTAssertEqual(all.filter { !$0.matched }.count, 12)
        XCTAssertEqual(all.filter(\.crossDataset).count, 6)
        XCTAssertTrue(all.filter(\.crossDataset).allSatisfy { ($0.dataset == "b") != ($0.audioDataset == "b") })
        // Each clip's own audio reads as its own: the pairs' readings are searches, not copies.
        let own = all.filter(\.matched).map(\.confidence), swapped = all.filter { !$0.matched }.map(\.confidence)
        XCTAssertGreaterThan(own.reduce(0, +) / 4, swapped.reduce(0, +) / 12)

        let shifts = clips.flatMap { E.shifts($0, range: 0...0, vshift: 5) }
        let rows = E.rows(shifts, pairs: all, threshold: 0.2)
        let a = rows.first { $0.dataset == "a" }!, b = rows.first { $0.dataset == "b" }!, total = rows.last!
        XCTAssertEqual([a.matchedPairs, a.swappedPairs, a.crossDatasetPairs], [3, 6, 3])
        XCTAssertEqual([b.matchedPairs, b.swappedPairs, b.crossDatasetPairs], [1, 0, 3])
        XCTAssertNil(b.auc)
        XCTAssertNotNil(b.crossDatasetAUC)
        XCTAssertEqual([total.swappedPairs, total.crossDatasetPairs], [6, 6])
        // The same-dataset figures are those of --swap-audio dataset: cross pairs never leak into them.
        let rowsDataset = E.rows(shifts, pairs: dataset, threshold: 0.2)
        XCTAssertEqual(rowsDataset.first { $0.dataset == "a" }!.auc, a.auc)
        XCTAssertEqual(rowsDataset.first { $0.dataset == "a" }!.crossDatasetPairs, 0)
        XCTAssertNil(rowsDataset.first { $0.dataset == "a" }!.crossDatasetAUC)
    }
}
