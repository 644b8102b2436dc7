import Generate
import NN
import Sync

/// One network as the engine benchmarks time it: fixed random inputs, a fixed loss gradient for the
/// train step, and the object whose stored layers `conv-layers` searches for convolutions.
struct BenchNetwork {
    let name: String
    let root: AnyObject
    let parameters: [Parameter]
    let setTraining: (Bool) -> Void
    let forward: () -> Void
    let backward: () -> Void

    /// Inference (BatchNorm folded), then a train step: forward, backward of the fixed loss, Adam.
    /// Leaves the network in training mode. With several backends, one run of each in turn (engine,
    /// oneDNN, engine, …), so that a shared host's stolen time hits all alike; each convolution keeps
    /// its oneDNN primitives while it runs on the engine. nil: the backends the layers already have.
    func measure(runs: Int, alternating backends: [ConvolutionBackend?] = [nil]) -> [(forward: Timing, step: Timing)] {
        func alternate(_ body: () -> Void) -> [Timing] {
            var times = Array(repeating: [Double](), count: backends.count)
            for r in 0...runs {
                for (i, backend) in backends.enumerated() {
                    if let backend { use(backend) }
                    let t0 = now(); body(); let t = now() - t0
                    if r > 0 { times[i].append(t) }  // run 0 warms up
                }
            }
            return times.map(Timing.init)
        }
        setTraining(false)
        let f = alternate(forward)
        setTraining(true)
        let adam = Adam(parameters: parameters, learningRate: 1e-4)
        let s = alternate { adam.zeroGrad(); forward(); backward(); adam.update() }
        return zip(f, s).map { ($0, $1) }
    }

    /// Puts every convolution of the network on one backend (`lipsync-bench nn --backend`).
    func use(_ backend: ConvolutionBackend) {
        for case let c as Conv2d in convolutions(in: root) { c.backend = backend }
    }
}

/// Every convolution reachable from a network's stored properties, in declaration order (the
/// networks keep their layers in private fields, arrays and Sequentials; reflection finds them all).
func convolutions(in root: Any) -> [Layer] {
    var seen = Set<ObjectIdentifier>(), found: [Layer] = []
    func visit(_ value: Any, depth: Int) {
        if value is Conv2d || value is ConvTranspose2d {
            let l = value as! Layer
            if seen.insert(ObjectIdentifier(l)).inserted { found.append(l) }
            return
        }
        // Tensors and plain arrays hold numbers, not layers.
        guard depth < 12, !(value is Tensor || value is [Float] || value is [Int] || value is [Double]) else { return }
        for child in Mirror(reflecting: value).children { visit(child.value, depth: depth + 1) }
    }
    visit(root, depth: 0)
    return found
}

/// Wav2Lip's SyncNet (batch 64) and generator (batch 16), as issue 13 names them, and the project's
/// own sync model and painter at the batches their trainers use (64 pairs, 20 painted frames);
/// `only` picks one by name.
func benchNetworks(only: String = "", rng: inout SeededRandom) -> [BenchNetwork] {
    func randomInput(_ shape: [Int], _ rng: inout SeededRandom) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = rng.normal() }
        return t
    }
    var nets: [BenchNetwork] = []
    if only.isEmpty || only == "syncnet" {
        let net = Wav2LipReference.SyncNet(rng: &rng)
        let mel = randomInput([64, 1, 80, 16], &rng), face = randomInput([64, 15, 48, 96], &rng)
        let da = Tensor(shape: [64, 512]), df = Tensor(shape: [64, 512])
        var last: (audio: Tensor, face: Tensor)?
        // Loss sum(a * f): d/da = f, d/df = a.
        nets.append(BenchNetwork(name: "syncnet", root: net, parameters: net.parameters, setTraining: net.setTraining,
                                 forward: { last = net.forward(mel: mel, face: face) },
                                 backward: { da.copy(from: last!.face); df.copy(from: last!.audio); net.backward(audio: da, face: df) }))
    }
    if only.isEmpty || only == "generator" {
        let net = Wav2LipReference.Generator(rng: &rng)
        let mel = randomInput([16, 1, 80, 16], &rng), face = randomInput([16, 6, 96, 96], &rng)
        let dy = Tensor(shape: [16, 3, 96, 96])
        dy.fill(1 / Float(dy.count))
        nets.append(BenchNetwork(name: "generator", root: net, parameters: net.parameters, setTraining: net.setTraining,
                                 forward: { _ = net.forward(mel: mel, face: face) }, backward: { net.backward(dy) }))
    }
    if only.isEmpty || only == "sync-model" {
        let net = SyncNet(seed: 1)
        let crops = randomInput([64, 5, 32, 64], &rng), geometry = randomInput([64, 400], &rng), mel = randomInput([64, 1, 80, 16], &rng)
        let dv = Tensor(shape: [64, 64]), da = Tensor(shape: [64, 64])
        nets.append(BenchNetwork(name: "sync-model", root: net, parameters: net.parameters, setTraining: net.setTraining,
                                 forward: { dv.copy(from: net.embedAudio(mel: mel)); da.copy(from: net.embedVisual(crops: crops, geometry: geometry)) },
                                 backward: { net.backwardVisual(dv); net.backwardAudio(da) }))
    }
    if only.isEmpty || only == "painter" {
        let net = MouthPainter(seed: 1)
        let face = randomInput([20, 6, 128, 128], &rng), mel = randomInput([20, 1, 80, 16], &rng)
        let dy = Tensor(shape: [20, 3, 64, 128])
        dy.fill(1 / Float(dy.count))
        nets.append(BenchNetwork(name: "painter", root: net, parameters: net.parameters, setTraining: { net.setMode($0 ? .training : .inference) },
                                 forward: { _ = net.forward(face: face, mel: mel) }, backward: { net.backward(dy) }))
    }
    return nets
}
