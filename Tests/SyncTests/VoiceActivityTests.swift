import XCTest
import Audio
import Foundation
import Media
@testable import Sync

/// Voice activity on real and synthetic sounds, through the same mel front end and rule `detect`
/// and `generate` use: continuous speech, loud (clipped) speech, speech over a music bed, music,
/// noise, a hum and silence.
final class VoiceActivityTests: XCTestCase {
    static let audioFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/audio")

    func fraction(_ samples: [Float]) -> Double {
        let evidence = SyncSignals.speechEvidence(samples: samples, fps: 25)
        return SyncDetector.speechFraction(evidence.energy, flux: evidence.flux, fps: 25)
    }

    func speech() throws -> [Float] {
        try NumpyFile.read(Self.audioFixtures.appendingPathComponent("grid_speech.input.npy").path).values.map { Float($0) }
    }

    /// A seeded generator, so the synthetic sounds are the same on every run.
    struct Noise {
        var state: UInt64
        mutating func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        mutating func gaussian() -> Float {
            let u = max(uniform(), 1e-7), v = uniform()
            return (-2 * logf(u)).squareRoot() * cosf(2 * .pi * v)
        }
    }

    /// Chords of harmonic tones, a new chord every 0.25-0.7 s with a plucked envelope: loud, rhythmic,
    /// but each note holds its spectral shape.
    func music(seconds: Double, peak: Float) -> [Float] {
        var rng = Noise(state: 7)
        let notes: [Float] = [110, 131, 147, 165, 196, 220, 247, 262, 294, 330, 392, 440]
        let n = Int(seconds * 16_000)
        var y = [Float](repeating: 0, count: n)
        var at = 0
        while at < n {
            let length = Int((0.25 + 0.45 * Double(rng.uniform())) * 16_000)
            let chord = (0..<3).map { _ in notes[Int(rng.uniform() * Float(notes.count)) % notes.count] }
            for k in 0..<min(length, n - at) {
                let t = Float(k) / 16_000
                let envelope = min(1, t / 0.01) * expf(-t / 0.8)
                var v: Float = 0
                for f in chord { for h in 1...7 { v += sinf(2 * .pi * f * Float(h) * t) / powf(Float(h), 1.2) } }
                y[at + k] += v * envelope
            }
            at += length
        }
        let top = y.map(abs).max() ?? 1
        return y.map { $0 * peak / top }
    }

    func testSpeechWithPausesContinuousAndLoud() throws {
        let s = try speech()
        let own = fraction(s)
        XCTAssertGreaterThan(own, 0.3, "GRID speech with its pauses")
        // The same speech with every 12.5 ms hop under -30 dB (mean square 1e-3) cut out, three times over:
        // talk without a pause.
        let hops = stride(from: 0, to: s.count - 200, by: 200).filter { k in
            s[k..<(k + 200)].reduce(0) { $0 + $1 * $1 } / 200 > 1e-3
        }
        let continuous = Array(repeating: hops.flatMap { s[$0..<($0 + 200)] }, count: 3).flatMap { $0 }
        XCTAssertGreaterThan(fraction(continuous), 0.7, "continuous speech")
        // Twenty times louder, clipped at full scale.
        XCTAssertGreaterThan(fraction(s.map { min(1, max(-1, $0 * 20)) }), 0.5, "loud, clipped speech")
        // Over a music bed 10 dB under it.
        let bed = music(seconds: Double(s.count) / 16_000 + 1, peak: 0.05)
        XCTAssertGreaterThan(fraction(zip(s, bed).map { $0 + $1 }), 0.6 * own, "speech over a music bed")
    }

    func testMusicNoiseHumAndSilenceAreNotSpeech() {
        let seconds = 6.0, n = Int(seconds * 16_000)
        XCTAssertLessThan(fraction(music(seconds: seconds, peak: 0.9)), 0.05, "loud music")
        var rng = Noise(state: 3)
        let white = (0..<n).map { _ in 0.5 * rng.gaussian() }
        XCTAssertLessThan(fraction(white), 0.05, "loud white noise")
        // A fan: noise whose loudness swells twice a second.
        let fan = (0..<n).map { k in 0.2 * rng.gaussian() * (1 + 0.5 * sinf(2 * .pi * 0.5 * Float(k) / 16_000)) }
        XCTAssertLessThan(fraction(fan), 0.05, "a fan")
        let hum = (0..<n).map { k in (1...9).reduce(Float(0)) { $0 + 0.3 * sinf(2 * .pi * 50 * Float($1) * Float(k) / 16_000) / Float($1) } }
        XCTAssertLessThan(fraction(hum), 0.05, "mains hum")
        XCTAssertEqual(fraction([Float](repeating: 0, count: n)), 0, "silence")
        XCTAssertEqual(fraction((0..<n).map { _ in 1e-4 * rng.gaussian() }), 0, "faint hiss")
    }

    func testTheFluxOfASteadyChordIsLowAndOfSpeechHigh() throws {
        let chord = music(seconds: 3, peak: 0.5)
        let speechFlux = SyncSignals.speechEvidence(samples: try speech(), fps: 25).flux.sorted()
        let chordFlux = SyncSignals.speechEvidence(samples: chord, fps: 25).flux.sorted()
        XCTAssertGreaterThan(speechFlux[speechFlux.count / 2], 3 * chordFlux[chordFlux.count / 2])
    }
}
