import ArgumentParser
import Audio
import Foundation
import Media

extension PaddingMode: ExpressibleByArgument {}

struct Mel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the log-mel spectrogram of a file's audio, as the models see it.",
        discussion: """
        Wav2Lip's convention: 16 kHz mono, pre-emphasis 0.97, n_fft 800, hop 200 (80 columns per second), periodic Hann, 80 Slaney mel bands 55-7600 Hz, 20 log10(max(1e-5, M)) - 20 dB, normalised to [-4, 4]. Video frame i at f fps uses the 16 columns starting at Int(i * 80 / f).

        .npy output holds an (80, T) float32 array, as Wav2Lip's audio.melspectrogram returns it (np.load gives it directly). It is streamed: any length works in constant memory. .png output draws a heat map (time left to right, low frequencies at the bottom) of the first --png-seconds of audio.

        Examples:
          lipsync mel interview.mp4 -o interview.npy
          lipsync mel clip.mpg -o clip.png
        """
    )

    @Argument(help: "Any file with an audio stream that ffmpeg reads.")
    var file: String

    @Option(name: .shortAndLong, help: "Output path ending in .npy or .png.")
    var output: String

    @Option(help: "Edge padding: reflect (librosa 0.7, Wav2Lip) or constant (librosa >= 0.9).")
    var padding: PaddingMode = .reflect

    @Option(help: "Seconds of audio drawn in a PNG.")
    var pngSeconds: Double = 30

    func validate() throws {
        let ext = (output as NSString).pathExtension.lowercased()
        guard ext == "npy" || ext == "png" else { throw ValidationError("--output must end in .npy or .png") }
        guard pngSeconds > 0 else { throw ValidationError("--png-seconds must be positive") }
    }

    func run() throws {
        try reportingErrors {
            let reader = try AudioReader(path: file)
            let mel = MelSpectrogram(MelConfiguration(padding: padding))
            let stream = MelStream(mel)
            let isPNG = (output as NSString).pathExtension.lowercased() == "png"
            let pngColumns = Int(pngSeconds * mel.configuration.columnsPerSecond)
            var kept = MelFrames(nMels: mel.configuration.nMels)
            let npy: NumpyStreamWriter?
            do {
                npy = isPNG ? nil : try NumpyStreamWriter(path: output)
            } catch {
                throw MediaError.unwritableOutput(path: output, reason: "cannot create file")
            }
            var columns = 0
            func take(_ f: MelFrames) throws {
                columns += f.count
                if let npy = npy {
                    try npy.append(f.values)
                } else if kept.count < pngColumns {
                    kept.values.append(contentsOf: f.values.prefix((pngColumns - kept.count) * f.nMels))
                }
            }
            while let chunk = try reader.read(maxSamples: 160_000) { try take(stream.push(chunk)) }
            try take(stream.finish())
            if let npy = npy {
                try npy.finish(shape: [mel.configuration.nMels, columns], fortranOrder: true)
            } else {
                try ImageFile.writePNG(HeatMap.render(kept), to: output)
            }
            FileHandle.standardError.write(Data(String(format: "wrote %@: 80 x %d (%.2f s)\n", output, columns,
                                                       Double(columns - 1) / mel.configuration.columnsPerSecond).utf8))
        }
    }
}
