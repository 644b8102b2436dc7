import Foundation

/// What `lipsync detect` concludes about a track or a whole video.
public enum SyncVerdict: String, Codable, Sendable, CaseIterable {
    case inSync = "in-sync"
    case offset
    case mismatched
    case noFace = "no-face"
    case noSpeech = "no-speech"

    /// Process exit status, so scripts can gate on the verdict (docs/cli.md).
    public var exitCode: Int32 {
        switch self {
        case .inSync: return 0
        case .offset: return 10
        case .mismatched: return 11
        case .noFace: return 12
        case .noSpeech: return 13
        }
    }
}

/// Decision rules over offset search, with thresholds calibrated on held-out data (docs/sync.md).
public struct SyncDetector: Sendable {
    /// Below this confidence the speech is judged not to belong to the face, per method: the 5th
    /// percentile of matched held-out clips (5 % false alarms there; docs/sync.md). Correlation: GRID
    /// s1 held out. Learned: the unseen GRID speakers, because its confidence runs higher on the one
    /// speaker it was trained on (5th percentile 0.51 on held-out s1) than on faces it never saw.
    public var correlationThreshold = 0.17
    public var learnedThreshold = 0.18

    /// The confidence below which `method`'s reading is called mismatched.
    public func mismatchConfidence(for method: SyncMethod) -> Double {
        switch method {
        case .correlation: return correlationThreshold
        case .learned: return learnedThreshold
        }
    }
    /// Below this calibrated probability (`TrackOffset.syncProbability`) the speech is judged not to
    /// belong to the face; readings without a calibration fall back to the confidence threshold.
    public var mismatchProbability = 0.5

    /// The mismatch rule: the calibrated probability where the method has a calibration, else
    /// syncnet_python's confidence against the method's threshold.
    public func isMismatched(_ o: TrackOffset) -> Bool {
        isMismatched(probability: o.syncProbability, confidence: o.confidence, threshold: mismatchConfidence(for: o.method))
    }

    /// The same rule with the confidence threshold given (`eval sync --threshold`).
    public func isMismatched(probability: Double?, confidence: Double, threshold: Double) -> Bool {
        if let p = probability { return p < mismatchProbability }
        return confidence < threshold
    }

    /// A best shift at least this large (frames) is reported as an offset.
    public var offsetFrames = 2
    /// Share of frames that must hold speech for the video to count as speaking.
    public var minimumSpeechFraction = 0.1

    public init() {}

    public struct TrackVerdict: Codable, Sendable {
        public var track: Int
        public var verdict: SyncVerdict
        public var offset: TrackOffset
    }

    public struct Report: Codable, Sendable {
        public var verdict: SyncVerdict
        public var speechFraction: Double
        public var tracks: [TrackVerdict]
        public var method: String
        /// LipSync's provenance mark, when the file carries one (set by the caller that probed it).
        public var generatedBy: String?
    }

    /// Energy voice-activity detection on the per-frame speech-band energy: a frame is speech when it
    /// stands 1 unit (12.5 dB) above the clip's quiet floor and above -3 (-87.5 dB). The floor is the
    /// clip's 10th percentile, but never above `loudestQuietFloor`: someone who talks from the first
    /// frame to the last has no quiet tenth, and measuring speech against speech called such clips
    /// silent.
    public static func speechFraction(_ energy: [Double]) -> Double {
        let e = energy.filter { !$0.isNaN }.sorted()
        guard !e.isEmpty else { return 0 }
        let floor = min(e[e.count / 10], loudestQuietFloor)
        return Double(e.filter { $0 > max(-3.0, floor + 1.0) }.count) / Double(e.count)
    }

    /// -2.5 units (-81 dB on the Wav2Lip mel scale): GRID and CREMA-D pauses sit near -3.7, their speech
    /// peaks near -1...0.5; a "floor" above this is speech without pauses, not a louder silence.
    public static let loudestQuietFloor = -2.5

    public func judge(_ signals: SyncSignals, vshift: Int) -> Report {
        let speech = Self.speechFraction(signals.audio)
        let offsets = signals.offsets(vshift: vshift)
        let tracks = offsets.map { o -> TrackVerdict in
            let v: SyncVerdict = isMismatched(o) ? .mismatched
                : (abs(o.audioDelayFrames) >= offsetFrames ? .offset : .inSync)
            return TrackVerdict(track: o.track, verdict: v, offset: o)
        }
        let overall: SyncVerdict
        if tracks.isEmpty {
            overall = .noFace
        } else if speech < minimumSpeechFraction {
            overall = .noSpeech
        } else {
            // The longest track speaks for the video.
            overall = tracks.max { ($0.offset.endFrame - $0.offset.startFrame) < ($1.offset.endFrame - $1.offset.startFrame) }!.verdict
        }
        return Report(verdict: overall, speechFraction: speech,
                      tracks: speech < minimumSpeechFraction ? tracks.map { TrackVerdict(track: $0.track, verdict: .noSpeech, offset: $0.offset) } : tracks,
                      method: Set(offsets.map(\.method.rawValue)).sorted().joined(separator: "+"))
    }
}
