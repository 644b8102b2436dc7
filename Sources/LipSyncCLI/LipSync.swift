import ArgumentParser
import Foundation
import Media

@main
struct LipSync: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "lipsync",
        abstract: "Check and repair lip sync in video.",
        discussion: """
        Every subcommand streams its input: memory does not grow with the video's length.
        Errors print one line naming the file and the problem; exit codes are listed in docs/cli.md.
        """,
        version: version,
        subcommands: [Probe.self, Mel.self, Faces.self, Offset.self, Detect.self, Eval.self, Train.self]
    )
}

/// Runs a command body, turning typed errors into one stderr line and a documented exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as MediaError {
        FileHandle.standardError.write(Data("lipsync: error: \(e.description)\n".utf8))
        throw ExitCode(e.exitCode)
    } catch let e as CLIError {
        FileHandle.standardError.write(Data("lipsync: error: \(e.description)\n".utf8))
        throw ExitCode(e.exitCode)
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
