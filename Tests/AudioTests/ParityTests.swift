import XCTest
@testable import Audio

/// Compares against librosa / python_speech_features outputs saved by tools/make_audio_references.py.
final class ParityTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/audio")
    static let signals = ["grid_speech", "espeak_speech", "silence", "sine_full_scale", "white_noise",
                          "len1", "len199", "len200", "len201", "len16001"]

    func load(_ name: String) throws -> NumpyFile.Array { try NumpyFile.read(Self.dir.appendingPathComponent(name).path) }
    func input(_ name: String) throws -> [Float] { try load("\(name).input.npy").values.map(Float.init) }

    func testFilterbankMatchesLibrosa() throws {
        let ref = try load("mel_basis.npy")
        XCTAssertEqual(ref.shape, [80, 401])
        let ours = MelFilterbank(sampleRate: 16_000, nFFT: 800, nMels: 80, fmin: 55, fmax: 7600).dense
        let worst = zip(ours, ref.values).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(worst, 1e-7)
    }

    func testMelMatchesWav2LipBothPaddingModes() throws {
        for mode in PaddingMode.allCases {
            let mel = MelSpectrogram(MelConfiguration(padding: mode))
            for name in Self.signals {
                let ref = try load("\(name).mel_\(mode.rawValue).npy")   // (80, T), C order
                let ours = mel.compute(try input(name))
                XCTAssertEqual(ref.shape, [80, ours.count], "\(name) \(mode)")
                guard ref.shape == [80, ours.count] else { continue }
                var worst = 0.0
                for t in 0..<ours.count {
                    for m in 0..<80 { worst = max(worst, abs(Double(ours[column: t, band: m]) - ref.values[m * ours.count + t])) }
                }
                print("mel \(mode.rawValue) \(name): max |Δ| \(worst)")
                XCTAssertLessThanOrEqual(worst, 1e-3, "\(name) \(mode): max |Δ| \(worst)")
            }
        }
    }

    func testMFCCMatchesPythonSpeechFeatures() throws {
        let mfcc = MFCC()
        for name in Self.signals {
            let ref = try load("\(name).mfcc.npy")   // (T, 13)
            let ours = mfcc.compute(try input(name))
            XCTAssertEqual(ref.shape, [ours.count, 13], name)
            guard ref.shape == [ours.count, 13] else { continue }
            // Relative to the magnitude of the value, with 1 as the floor for values near zero.
            let worst = zip(ours.values, ref.values).map { abs(Double($0) - $1) / max(1, abs($1)) }.max()!
            print("mfcc \(name): max relative error \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4, "\(name): max relative error \(worst)")
        }
    }
}
