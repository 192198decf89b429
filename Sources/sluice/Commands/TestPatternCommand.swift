import ArgumentParser
import Foundation
import SluiceCore
import SluiceFormats

/// `sluice test-pattern`: EventBridge's TestEventPattern, locally.
struct TestPatternCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-pattern",
        abstract: "Test one event pattern against one event: prints true or false.",
        discussion: """
            The pattern is an Amazon EventBridge event pattern (plus Sluice's extensions: regex, \
            $and, GuardDuty filter criteria), and may name the normalised view (`sluice.*`, \
            docs/formats.md). The event is read as `sluice run` reads it: a bare GuardDuty finding \
            is wrapped in its EventBridge envelope, and an event holding several findings (a \
            Security Hub event's `detail.findings[]`, a BatchImportFindings body) is split: \
            `true` when any of its findings matches, and stderr says which. Exit status 0 with \
            `true` or `false` on stdout; an invalid pattern prints why on stderr and exits 2; an \
            unreadable or invalid event exits 1.
            """)

    @Option(name: .long, help: ArgumentHelp("JSON file holding the event pattern.", valueName: "file"))
    var pattern: String

    @Option(name: .long, help: ArgumentHelp("JSON file holding the event.", valueName: "file"))
    var event: String

    @OptionGroup var reading: EventReadingOptions

    func run() async throws {
        let patternText = try CLIFiles.read(pattern, what: "pattern")
        let patternJSON: JSON
        do { patternJSON = try JSON.parse(patternText) } catch {
            CLIFiles.fail("invalid pattern: \(pattern) is not JSON (\(error.rawValue))")
            throw ExitCode(2)
        }
        let table: RouteTable
        do {
            _ = try Pattern(json: patternJSON)
            table = try RouteTable(routes: [Route(name: "pattern", match: patternJSON, targets: [RouteTarget(connector: "-")])])
        } catch let error as PatternError {
            CLIFiles.fail("invalid pattern: \(error.message)")
            throw ExitCode(2)
        } catch let error as Diagnostics {
            CLIFiles.fail("invalid pattern: \(error.items.map(\.message).joined(separator: "; "))")
            throw ExitCode(2)
        }
        // The same decode-and-normalise as `run`: bare findings wrapped, split records matched
        // finding by finding (true when any matches), the view under `sluice`, the run's limits
        // and the topic's format (--config, --topic).
        let decoder = reading.decoder(try reading.settings())
        let bytes = try CLIFiles.readBytes(event, what: "event")
        var matchedParts: [Int] = []
        var parts = 0
        if let rejection = decoder.decode(bytes, { finding in
            parts += 1
            if !table.match(finding.event).isEmpty { matchedParts.append(parts) }
        }) {
            CLIFiles.fail("invalid event: \(event) is rejected as \(rejection.reason) (\(rejection.detail))")
            throw ExitCode(1)
        }
        // stdout stays TestEventPattern's one word, written first; a split event says on stderr
        // which of its findings matched.
        FileHandle.standardOutput.write(Data((matchedParts.isEmpty ? "false\n" : "true\n").utf8))
        if parts > 1 {
            let which = matchedParts.isEmpty ? "none" : matchedParts.map { "finding \($0) of \(parts)" }.joined(separator: ", ")
            CLIFiles.fail("note: the event holds \(parts) findings, matched one by one as run delivers them; matched: \(which)")
        }
    }
}

/// Small file helpers shared by the matcher commands.
enum CLIFiles {
    static func read(_ path: String, what: String) throws -> String {
        let data: Data?
        if path == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else { data = FileManager.default.contents(atPath: path) }
        guard let data else {
            fail("cannot read \(what) file \(path)")
            throw ExitCode(1)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The file's bytes as they are (invalid UTF-8 is the decoder's to reject, not replaced here).
    static func readBytes(_ path: String, what: String) throws -> [UInt8] {
        let data: Data?
        if path == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else { data = FileManager.default.contents(atPath: path) }
        guard let data else {
            fail("cannot read \(what) file \(path)")
            throw ExitCode(1)
        }
        return Array(data)
    }

    static func fail(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
