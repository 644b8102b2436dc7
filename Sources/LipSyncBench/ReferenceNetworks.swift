import NN

/// Wav2Lip's expert SyncNet and generator (96x96), built from the engine's layers, for benchmarking
/// against the same networks in PyTorch (tools/bench_nn.py). Not shipped models.
enum Wav2LipReference {
    static func audioTower(generator: Bool, rng: inout SeededRandom) -> Sequential {
        var i = 0
        func b(_ cin: Int, _ cout: Int, _ k: Int, _ s: (Int, Int), _ p: Int, _ r: Bool = false) -> ConvBlock {
            i += 1
            return ConvBlock(cin, cout, kernel: k, stride: s, padding: p, residual: r, name: "audio.\(i)", rng: &rng)
        }
        var layers: [Layer] = [b(1, 32, 3, (1, 1), 1), b(32, 32, 3, (1, 1), 1, true), b(32, 32, 3, (1, 1), 1, true),
                               b(32, 64, 3, (3, 1), 1), b(64, 64, 3, (1, 1), 1, true), b(64, 64, 3, (1, 1), 1, true),
                               b(64, 128, 3, (3, 3), 1), b(128, 128, 3, (1, 1), 1, true), b(128, 128, 3, (1, 1), 1, true),
                               b(128, 256, 3, (3, 2), 1), b(256, 256, 3, (1, 1), 1, true)]
        if !generator { layers.append(b(256, 256, 3, (1, 1), 1, true)) }
        layers += [b(256, 512, 3, (1, 1), 0), b(512, 512, 1, (1, 1), 0)]
        (layers[0] as! ConvBlock).computesInputGradient = false
        return Sequential(layers)
    }

    final class SyncNet {
        let face: Sequential, audio: Sequential
        let faceNorm = L2Normalize(), audioNorm = L2Normalize()
        let faceFlat = Flatten(), audioFlat = Flatten()

        init(rng: inout SeededRandom) {
            var i = 0
            func b(_ cin: Int, _ cout: Int, _ k: Int, _ s: (Int, Int), _ p: Int, _ r: Bool = false) -> ConvBlock {
                i += 1
                return ConvBlock(cin, cout, kernel: k, stride: s, padding: p, residual: r, name: "face.\(i)", rng: &rng)
            }
            face = Sequential([
                b(15, 32, 7, (1, 1), 3), b(32, 64, 5, (1, 2), 1), b(64, 64, 3, (1, 1), 1, true), b(64, 64, 3, (1, 1), 1, true),
                b(64, 128, 3, (2, 2), 1), b(128, 128, 3, (1, 1), 1, true), b(128, 128, 3, (1, 1), 1, true), b(128, 128, 3, (1, 1), 1, true),
                b(128, 256, 3, (2, 2), 1), b(256, 256, 3, (1, 1), 1, true), b(256, 256, 3, (1, 1), 1, true),
                b(256, 512, 3, (2, 2), 1), b(512, 512, 3, (1, 1), 1, true), b(512, 512, 3, (1, 1), 1, true),
                b(512, 512, 3, (2, 2), 1), b(512, 512, 3, (1, 1), 0), b(512, 512, 1, (1, 1), 0)])
            audio = Wav2LipReference.audioTower(generator: false, rng: &rng)
            (face.layers[0] as! ConvBlock).computesInputGradient = false
        }

        var parameters: [Parameter] { face.parameters + audio.parameters }
        func setTraining(_ t: Bool) { face.setTraining(t); audio.setTraining(t) }

        func forward(mel: Tensor, face x: Tensor) -> (audio: Tensor, face: Tensor) {
            (audioNorm.forward(audioFlat.forward(audio.forward(mel))), faceNorm.forward(faceFlat.forward(face.forward(x))))
        }

        func backward(audio da: Tensor, face df: Tensor) {
            _ = audio.backward(audioFlat.backward(audioNorm.backward(da)))
            _ = face.backward(faceFlat.backward(faceNorm.backward(df)))
        }
    }

    /// U-Net: face encoder blocks, audio encoder, decoder blocks each concatenated with the mirror
    /// encoder features, output block.
    final class Generator {
        let encoders: [Sequential], audio: Sequential, decoders: [Sequential], output: Sequential
        private var joined: [Tensor] = []
        private var gradParts: [(Tensor, Tensor)] = []
        private var featureGrads: [Tensor] = []
        private var featureShapes: [[Int]] = []

        init(rng: inout SeededRandom) {
            var i = 0
            func b(_ cin: Int, _ cout: Int, _ k: Int, _ s: Int, _ p: Int, _ r: Bool = false) -> ConvBlock {
                i += 1
                return ConvBlock(cin, cout, kernel: k, stride: (s, s), padding: p, residual: r, name: "g.\(i)", rng: &rng)
            }
            func t(_ cin: Int, _ cout: Int, _ s: Int, _ p: Int, _ op: Int) -> ConvBlock {
                i += 1
                return ConvBlock(transposed: cin, cout, kernel: 3, stride: s, padding: p, outputPadding: op, name: "g.\(i)", rng: &rng)
            }
            encoders = [
                Sequential([b(6, 16, 7, 1, 3)]),
                Sequential([b(16, 32, 3, 2, 1), b(32, 32, 3, 1, 1, true), b(32, 32, 3, 1, 1, true)]),
                Sequential([b(32, 64, 3, 2, 1), b(64, 64, 3, 1, 1, true), b(64, 64, 3, 1, 1, true), b(64, 64, 3, 1, 1, true)]),
                Sequential([b(64, 128, 3, 2, 1), b(128, 128, 3, 1, 1, true), b(128, 128, 3, 1, 1, true)]),
                Sequential([b(128, 256, 3, 2, 1), b(256, 256, 3, 1, 1, true), b(256, 256, 3, 1, 1, true)]),
                Sequential([b(256, 512, 3, 2, 1), b(512, 512, 3, 1, 1, true)]),
                Sequential([b(512, 512, 3, 1, 0), b(512, 512, 1, 1, 0)]),
            ]
            audio = Wav2LipReference.audioTower(generator: true, rng: &rng)
            decoders = [
                Sequential([b(512, 512, 1, 1, 0)]),
                Sequential([t(1024, 512, 1, 0, 0), b(512, 512, 3, 1, 1, true)]),
                Sequential([t(1024, 512, 2, 1, 1), b(512, 512, 3, 1, 1, true), b(512, 512, 3, 1, 1, true)]),
                Sequential([t(768, 384, 2, 1, 1), b(384, 384, 3, 1, 1, true), b(384, 384, 3, 1, 1, true)]),
                Sequential([t(512, 256, 2, 1, 1), b(256, 256, 3, 1, 1, true), b(256, 256, 3, 1, 1, true)]),
                Sequential([t(320, 128, 2, 1, 1), b(128, 128, 3, 1, 1, true), b(128, 128, 3, 1, 1, true)]),
                Sequential([t(160, 64, 2, 1, 1), b(64, 64, 3, 1, 1, true), b(64, 64, 3, 1, 1, true)]),
            ]
            output = Sequential([b(80, 32, 3, 1, 1), Conv2d(32, 3, kernel: (1, 1), name: "g.out", rng: &rng), Sigmoid()])
            (encoders[0].layers[0] as! ConvBlock).computesInputGradient = false
            joined = decoders.map { _ in Tensor(shape: [0]) }
            gradParts = decoders.map { _ in (Tensor(shape: [0]), Tensor(shape: [0])) }
            featureGrads = encoders.map { _ in Tensor(shape: [0]) }
        }

        var parameters: [Parameter] { encoders.flatMap(\.parameters) + audio.parameters + decoders.flatMap(\.parameters) + output.parameters }
        func setTraining(_ t: Bool) { (encoders + decoders + [audio, output]).forEach { $0.setTraining(t) } }

        func forward(mel: Tensor, face: Tensor) -> Tensor {
            var features: [Tensor] = []
            var x = face
            for e in encoders { x = e.forward(x); features.append(x) }
            featureShapes = features.map(\.shape)
            x = audio.forward(mel)
            for (j, d) in decoders.enumerated() {
                TensorOps.concatChannels([d.forward(x), features[encoders.count - 1 - j]], into: joined[j])
                x = joined[j]
            }
            return output.forward(x)
        }

        func backward(_ dy: Tensor) {
            var g = output.backward(dy)
            for j in (0..<decoders.count).reversed() {
                let k = encoders.count - 1 - j
                let (dDec, dFeat) = gradParts[j]
                dDec.reshape([g.n, g.c - featureShapes[k][1], g.h, g.w])
                dFeat.reshape(featureShapes[k])
                TensorOps.splitChannels(g, into: [dDec, dFeat])
                featureGrads[k].copy(from: dFeat)
                g = decoders[j].backward(dDec)
            }
            _ = audio.backward(g)
            var up: Tensor? = nil
            for k in (0..<encoders.count).reversed() {
                let total = featureGrads[k]
                if let u = up { for i in 0..<total.count { total.data[i] += u.data[i] } }
                up = encoders[k].backward(total)
            }
        }

    }
}
