import Foundation

/// What `lipsync detect` concludes about a track or a whole video.
public enum SyncVerdict: String, Codable, Sendable, CaseIterable {
    case inSync = "in-sync"
    case offset
    case mismatched
    case noFace = "no-face"
    case noSpeech = "no-speech"
    /// The reading is too weak to call either way: neither an offset nor a mismatch is stated as fact.
    case uncertain
    /// This face's mouth does not move with the speech while another face's does, or barely moves at
    /// all: it is not the speaker (a listener, a photograph, a voice-over), which is not a mismatch.
    case notSpeaking = "not-speaking"

    /// The face follows the speech (in sync, or at an offset): it is speaking.
    public var followsTheSpeech: Bool { self == .inSync || self == .offset }

    /// Process exit status, so scripts can gate on the verdict (docs/cli.md).
    public var exitCode: Int32 {
        switch self {
        case .inSync: return 0
        case .offset: return 10
        case .mismatched: return 11
        case .noFace: return 12
        case .noSpeech: return 13
        case .uncertain: return 14
        case .notSpeaking: return 15
        }
    }
}

/// How far a reading says the speech belongs to the face.
public enum SpeechMatch: Sendable {
    case matched, uncertain, mismatched
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
    /// belong to the face: the 5th percentile of matched pairs on the calibration's own fitting set
    /// (GRID s4 under the s1-only model, an identity that model never saw; docs/sync.md), so 5 % false
    /// alarms on a new face there. The map is flat on new faces (P 0.34-0.69 there, matched and
    /// swapped alike), so odds of 3 to 1 against (0.25) were never reached. Readings without a
    /// calibration fall back to the confidence threshold.
    public var mismatchProbability = 0.40
    /// At or above this probability the reading is trusted (in-sync or offset); between the two it is
    /// `uncertain`: a detector that guesses there is wrong as often as it is right.
    public var trustedProbability = 0.5
    /// A track whose mouth moves less than this (`TrackOffset.mouthActivity`: the 10th-90th percentile
    /// range of the inner-lip gap, in inter-ocular distances) is not speaking. A closed, still mouth
    /// reads under 0.01 (landmark noise); GRID speakers 0.035-0.3 (median 0.08), CREMA-D 0.18-0.23, and a
    /// speaker at 180 x 144, heavily compressed, 0.018: the landmarks see less of a small mouth.
    public var speakingActivity = 0.01
    /// Below this mouth activity the lips move too little to show that speech is *not* theirs: a low
    /// reading there is `uncertain`, never `mismatched`. Every speaking face of the 369 shared clips
    /// reads at least 0.035; a face at 180 x 144 under heavy compression reads 0.018 and every sync
    /// model so far reads its own, matched speech at P 0.36-0.41, around the mismatch line
    /// (docs/sync.md). Small, soft mouths are where the model knows least, so there it says so.
    public var evidentActivity = 0.03

    /// The mismatch rule: the calibrated probability where the method has a calibration, else
    /// syncnet_python's confidence against the method's threshold.
    public func isMismatched(_ o: TrackOffset) -> Bool { match(o) == .mismatched }

    public func match(_ o: TrackOffset) -> SpeechMatch {
        match(probability: o.syncProbability, confidence: o.confidence, threshold: mismatchConfidence(for: o.method))
    }

    /// The same rule with the confidence threshold given (`eval sync --threshold`). Without a
    /// calibration (the correlation method) there is no uncertain band.
    public func match(probability: Double?, confidence: Double, threshold: Double) -> SpeechMatch {
        if let p = probability { return p < mismatchProbability ? .mismatched : (p < trustedProbability ? .uncertain : .matched) }
        return confidence < threshold ? .mismatched : .matched
    }

    public func isMismatched(probability: Double?, confidence: Double, threshold: Double) -> Bool {
        match(probability: probability, confidence: confidence, threshold: threshold) == .mismatched
    }

    /// Why a reading should not be stated as fact, or nil when it can be: what `offset` prints as
    /// "unreliable: …" and `detect` turns into `uncertain` or `not-speaking`.
    public func unreliability(of o: TrackOffset) -> String? {
        if barelyMoves(o) {
            return String(format: "the mouth barely moves (activity %.3f, below %.2f)", o.mouthActivity ?? 0, speakingActivity)
        }
        let m = match(o)
        guard m != .matched else { return nil }
        if m == .mismatched, lipsBarelyShow(o) {
            return String(format: "the lips move too little to judge (activity %.3f, below %.2f)", o.mouthActivity ?? 0, evidentActivity)
        }
        if let p = o.syncProbability {
            return String(format: "P(speech belongs to this face) %.2f is below %.2f", p, trustedProbability)
        }
        return String(format: "confidence %.2f is below %.2f", o.confidence, mismatchConfidence(for: o.method))
    }

    /// The track's mouth moves too little for it to be speaking (`speakingActivity`).
    public func barelyMoves(_ o: TrackOffset) -> Bool { o.mouthActivity.map { $0 < speakingActivity } ?? false }

    /// The track's lips move, but too little for a mismatch to be claimed (`evidentActivity`).
    public func lipsBarelyShow(_ o: TrackOffset) -> Bool { o.mouthActivity.map { $0 < evidentActivity } ?? false }

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
        /// The track judged to be the one speaking (it gives the overall verdict), if any.
        public var speakingTrack: Int?
        public var method: String
        /// LipSync's provenance mark, when the file carries one (set by the caller that probed it).
        public var generatedBy: String?
    }

    /// Voice activity per frame, from three readings of the audio under it:
    /// - **level:** the speech-band energy stands 1 unit (12.5 dB) above the clip's quiet floor and
    ///   above -3 (-87.5 dB). The floor is the clip's 10th percentile, but never above
    ///   `loudestQuietFloor`: someone who talks from the first frame to the last has no quiet tenth.
    /// - **syllabic modulation:** within ±0.5 s the level swings by at least `minimumModulation`
    ///   (90th minus 10th percentile). Speech rises and falls with its syllables even without a pause
    ///   (GRID and CREMA-D: 1.0-3.9 units; pause-free GRID talk 0.9-1.2); steady noise, a fan or a
    ///   hum does not (0.04-0.7), however loud.
    /// - **spectral flux:** the median flux within ±0.5 s is at least `minimumFlux`. Held musical
    ///   notes are loud and modulated but keep their spectral shape (0.02-0.06); speech moves its
    ///   formants (0.28-0.44), also over a quieter music bed (0.24).
    /// Without flux readings (`flux` empty) the flux test is skipped. Returns the share of speech frames.
    public static func speechFraction(_ energy: [Double], flux: [Double] = [], fps: Double = 25) -> Double {
        let valid = energy.indices.filter { !energy[$0].isNaN }
        guard !valid.isEmpty else { return 0 }
        let e = valid.map { energy[$0] }
        let sorted = e.sorted()
        let floor = min(sorted[sorted.count / 10], loudestQuietFloor)
        let radius = max(1, Int((fps / 2).rounded()))
        func percentile(_ sorted: [Double], _ q: Double) -> Double { sorted[Int(q * Double(sorted.count - 1))] }
        let f = flux.isEmpty ? [] : valid.map { $0 < flux.count ? flux[$0] : .nan }
        var speech = 0
        for i in e.indices where e[i] > max(-3.0, floor + 1.0) {
            let window = max(0, i - radius)..<min(e.count, i + radius + 1)
            let levels = e[window].sorted()
            guard percentile(levels, 0.9) - percentile(levels, 0.1) >= minimumModulation else { continue }
            if !f.isEmpty {
                let near = f[window].filter { !$0.isNaN }.sorted()
                guard !near.isEmpty, percentile(near, 0.5) >= minimumFlux else { continue }
            }
            speech += 1
        }
        return Double(speech) / Double(e.count)
    }

    /// -2.5 units (-81 dB on the Wav2Lip mel scale): GRID and CREMA-D pauses sit near -3.7, their speech
    /// peaks near -1...0.5; a "floor" above this is speech without pauses, not a louder silence.
    public static let loudestQuietFloor = -2.5
    /// Level swing within ±0.5 s (normalised mel units, 12.5 dB each) below which sound is steady, not
    /// syllables: 0.9, between pause-free speech's 5th percentile (0.89-0.94) and a modulated fan's
    /// 95th (0.69).
    public static let minimumModulation = 0.9
    /// Median spectral flux within ±0.5 s below which the sound holds its spectral shape (music's notes
    /// 0.02-0.06, speech 0.24-0.44).
    public static let minimumFlux = 0.15

    public func judge(_ signals: SyncSignals, vshift: Int) -> Report {
        let speech = Self.speechFraction(signals.audio, flux: signals.spectralFlux, fps: signals.fps)
        let offsets = signals.offsets(vshift: vshift)
        let method = Set(offsets.map(\.method.rawValue)).sorted().joined(separator: "+")
        guard !offsets.isEmpty else { return Report(verdict: .noFace, speechFraction: speech, tracks: [], method: method) }
        guard speech >= minimumSpeechFraction else {
            return Report(verdict: .noSpeech, speechFraction: speech,
                          tracks: offsets.map { TrackVerdict(track: $0.track, verdict: .noSpeech, offset: $0) }, method: method)
        }
        let (tracks, speaker) = Self.speaker(among: offsets.map { TrackVerdict(track: $0.track, verdict: verdict(of: $0), offset: $0) })
        return Report(verdict: speaker?.verdict ?? .notSpeaking, speechFraction: speech, tracks: tracks,
                      speakingTrack: speaker?.track, method: method)
    }

    /// Which face says the speech. A face whose reading fails (mismatched or uncertain) while another
    /// face on screen for at least half its frames follows the speech is a listener: not-speaking,
    /// not a mismatch. The speaker is the most probable reader of the speech among the rest (the
    /// longer track on ties); none when no face may be speaking.
    public static func speaker(among judged: [TrackVerdict]) -> (tracks: [TrackVerdict], speaker: TrackVerdict?) {
        var tracks = judged
        let speakers = tracks.filter(\.verdict.followsTheSpeech)
        for k in tracks.indices where tracks[k].verdict == .mismatched || tracks[k].verdict == .uncertain {
            if speakers.contains(where: { overlap(tracks[k].offset, $0.offset) >= 0.5 }) { tracks[k].verdict = .notSpeaking }
        }
        func length(_ t: TrackVerdict) -> Int { t.offset.endFrame - t.offset.startFrame }
        let speaker = tracks.filter { $0.verdict != .notSpeaking }.max { a, b in
            let pa = a.offset.syncProbability ?? a.offset.confidence, pb = b.offset.syncProbability ?? b.offset.confidence
            return pa != pb ? pa < pb : length(a) < length(b)
        }
        return (tracks, speaker)
    }

    /// One track on its own: not speaking when its mouth barely moves, then mismatched (uncertain
    /// when its lips show too little to judge), uncertain, offset or in sync by its reading.
    public func verdict(of o: TrackOffset) -> SyncVerdict {
        if barelyMoves(o) { return .notSpeaking }
        switch match(o) {
        case .mismatched: return lipsBarelyShow(o) ? .uncertain : .mismatched
        case .uncertain: return .uncertain
        case .matched: return abs(o.audioDelayFrames) >= offsetFrames ? .offset : .inSync
        }
    }

    /// The share of `a`'s frames that `b` also spans.
    static func overlap(_ a: TrackOffset, _ b: TrackOffset) -> Double {
        let shared = min(a.endFrame, b.endFrame) - max(a.startFrame, b.startFrame) + 1
        return Double(max(0, shared)) / Double(max(1, a.endFrame - a.startFrame + 1))
    }
}
