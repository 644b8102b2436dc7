import Audio
import Foundation
import NN

/// How much of the world's audio the sync model's training imitates (docs/sync.md, "Audio
/// augmentation"). Every GRID clip is one studio microphone in one quiet room; real footage is
/// phones, halls, music beds and street noise, and a model that never heard them reads a change of
/// channel as a change of speech.
public enum AudioAugmentation: String, Sendable, CaseIterable {
    /// Another vocal tract (mel-axis stretch), gain and a noise floor: the shipped model's.
    case voice
    /// `voice`, then a room (reverberation), a channel (telephone band, microphone tilt) and
    /// background noise or music at 0-20 dB SNR, each drawn per window.
    case acoustic
}

extension Augmentation {
    /// The log-mel scale's units in power: one unit of the Wav2Lip normalised mel is 12.5 dB
    /// (-4...4 spans -100...0 dB), so power = 10^(1.25 v).
    static let decibelsPerUnit: Float = {
        let c = MelConfiguration()
        return -c.minLevelDB / (2 * c.maxAbsValue)
    }()

    /// Centre frequency (Hz) of each of the 80 mel bands, for the channel and noise shapes.
    static let bandCentres: [Double] = {
        let c = MelConfiguration()
        let lo = MelFilterbank.hzToMel(c.fmin), hi = MelFilterbank.hzToMel(c.fmax)
        return (0..<c.nMels).map { MelFilterbank.melToHz(lo + (hi - lo) * Double($0 + 1) / Double(c.nMels + 1)) }
    }()

    /// One draw of a recording's acoustics for one window.
    struct Acoustics {
        /// Late reverberation: power decay per mel column (12.5 ms) and its level against the direct sound.
        var reverb: (decay: Float, level: Float)?
        /// A telephone-like pass band (Hz), 24 dB per octave outside it.
        var band: (low: Double, high: Double)?
        /// Background: a spectral shape (mean 1) at an SNR (dB) against the window's own mean power.
        var noise: (shape: [Float], snr: Float, steady: Bool)?
        /// Microphone colour: units added from the lowest to the highest band (linear in band index).
        var tilt: Float

        init(rng: inout SeededRandom) {
            func u(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * rng.uniform() }
            if rng.uniform() < 0.3 {
                // RT60 0.2-0.9 s; direct-to-reverberant ratio +6 ... -3 dB.
                let rt60 = u(0.2, 0.9)
                reverb = (powf(10, -6 * 0.0125 / rt60), powf(10, -u(-3, 6) / 10))
            }
            if rng.uniform() < 0.2 { band = (Double(u(200, 400)), Double(u(3000, 4000))) }
            if rng.uniform() < 0.35 {
                let kind = rng.uniform()
                var shape: [Float]
                var steady = false
                if kind < 0.5 {
                    // Coloured noise, from white (0) to brown (2): power ∝ f^-alpha.
                    let alpha = Double(u(0, 2))
                    shape = Augmentation.bandCentres.map { Float(pow($0 / 500, -alpha)) }
                } else if kind < 0.75 {
                    // Babble: the long-term average speech spectrum, flat to ~500 Hz, falling 9 dB per octave above.
                    shape = Augmentation.bandCentres.map { Float($0 < 500 ? 1 : pow($0 / 500, -3)) }
                } else {
                    // A music bed: the harmonics of a held note (100-400 Hz), falling 6 dB per harmonic octave.
                    let f0 = Double(u(100, 400))
                    shape = Augmentation.bandCentres.map { f in
                        var p = 0.02
                        var h = 1.0
                        while f0 * h < 8000 {
                            let d = (f - f0 * h) / (0.06 * f + 30)
                            p += exp(-d * d) / h
                            h += 1
                        }
                        return Float(p)
                    }
                    steady = true
                }
                let mean = shape.reduce(0, +) / Float(shape.count)
                noise = (shape.map { $0 / mean }, u(0, 20), steady)
            }
            tilt = rng.uniform() < 0.5 ? u(-0.5, 0.5) : 0
        }
    }

    /// The whole audio augmentation of one window: `voice` as before, then, for `acoustic`, the
    /// recording's acoustics applied to the voice-augmented window in the power domain.
    static func audio(_ w: [Float], into out: UnsafeMutablePointer<Float>, kind: AudioAugmentation, rng: inout SeededRandom) {
        mel(w, into: out, rng: &rng)
        if kind == .acoustic { acoustics(out, count: w.count, Acoustics(rng: &rng), rng: &rng) }
    }

    /// Room, channel, background and microphone colour on a band-major 80 × cols window, in place.
    static func acoustics(_ out: UnsafeMutablePointer<Float>, count: Int, _ a: Acoustics, rng: inout SeededRandom) {
        let bands = 80, cols = count / bands
        let k = decibelsPerUnit / 10 * logf(10)   // v -> ln(power)
        var power = [Float](repeating: 0, count: count)
        for i in 0..<count { power[i] = expf(k * out[i]) }
        if let r = a.reverb {
            // The tail before the window is unknown: start it from the window's first columns, as if
            // the room had been ringing with similar sound.
            for m in 0..<bands {
                let row = m * cols
                var head: Float = 0
                for t in 0..<min(4, cols) { head += power[row + t] }
                var tail = r.level * head / Float(min(4, cols))
                for t in 0..<cols {
                    let direct = power[row + t]
                    power[row + t] = direct + tail
                    tail = r.decay * tail + (1 - r.decay) * r.level * direct
                }
            }
        }
        if let b = a.band {
            for m in 0..<bands {
                let f = bandCentres[m]
                let octaves = f < b.low ? log2(b.low / f) : (f > b.high ? log2(f / b.high) : 0)
                let gain = Float(pow(10, -24 * octaves / 10))
                for t in 0..<cols { power[m * cols + t] *= gain }
            }
        }
        if let n = a.noise {
            let mean = power.reduce(0, +) / Float(count)
            let level = mean * powf(10, -n.snr / 10)
            for m in 0..<bands {
                for t in 0..<cols {
                    // Noise power in a mel cell fluctuates; a held note does not.
                    let fluctuation: Float = n.steady ? 1 : max(0.2, 1 + 0.4 * rng.normal())
                    power[m * cols + t] += level * n.shape[m] * fluctuation
                }
            }
        }
        for m in 0..<bands {
            let colour = a.tilt * (Float(m) / Float(bands - 1) - 0.5)
            for t in 0..<cols {
                let i = m * cols + t
                out[i] = min(4, max(-4, logf(max(power[i], 1e-30)) / k + colour))
            }
        }
    }
}
