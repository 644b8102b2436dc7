import ArgumentParser
import Foundation
import Media
import NN
import Training
import Vision

@main
struct LipSync: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "lipsync",
        abstract: "Check and repair lip sync in video.",
        discussion: """
        Every subcommand streams its input: memory does not grow with the video's length. Errors print one line naming the file and the problem; exit codes are listed in docs/cli.md.
        """,
        version: version,
        subcommands: [Probe.self, Mel.self, Faces.self, Offset.self, Detect.self, GenerateCommand.self, Eval.self, Train.self]
    )

    static func main() {
        BLASKernel.useFastKernel()
        main(nil)
    }
}

/// Runs a command body, turning typed errors into one stderr line and a documented exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        let (message, code) = exitStatus(for: error)
        FileHandle.standardError.write(Data("lipsync: error: \(message)\n".utf8))
        throw ExitCode(code)
    }
}

/// The one mapping from every error type the libraries throw to its message and exit code (docs/cli.md).
func exitStatus(for error: Error) -> (message: String, code: Int32) {
    switch error {
    case let e as MediaError: return (e.description, e.exitCode)
    case let e as CLIError: return (e.description, e.exitCode)
    // Model weights: missing, damaged, or of another kind.
    case let e as VisionError: return (e.description, 70)
    case let e as SafetensorsFile.Error: return (e.description, 70)
    case let e as Checkpoint.Error: return (e.description, 70)
    case let e as TrainingError:
        switch e {
        case .unwritableLog: return (e.description, 73)
        case .noCheckpoint: return (e.description, 66)
        }
    default: return ("internal error: \(error) (please report it)", 70)
    }
}

/// Failures that belong to the CLI layer rather than to a library module.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32
}

func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    enc.keyEncodingStrategy = .convertToSnakeCase
    let data = try enc.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}
