import ArgumentParser
import Foundation
import Media

struct Mel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the mel spectrogram of a file's audio (not yet available).")
    @Argument var file: String
    func run() throws { throw CLIError(description: "mel: not implemented yet", exitCode: 70) }
}
