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
}
