import ArgumentParser
import Foundation
import SluiceCore

/// `sluice backtest`: what a set of patterns or routes would have caught in a history file.
struct BacktestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Run a history of events through patterns or routes: events/s and matches per pattern or route.",
        discussion: """
            --patterns takes JSON Lines, one event pattern per line (blank lines and lines starting \
            with # are skipped); each pattern is counted independently. --routes takes a routes \
            directory; counts then honour suppressions, order and stop, exactly as `sluice run` \
            would route. Events are NDJSON, one event per line; lines that are not JSON are counted \
            and skipped. Nothing is sent.
            """)

    @Option(name: .long, help: ArgumentHelp("JSON Lines file of event patterns.", valueName: "file.jsonl"))
    var patterns: String?

    @Option(name: .long, help: ArgumentHelp("Directory of route files.", valueName: "dir"))
    var routes: String?

    @Option(name: .long, help: ArgumentHelp("NDJSON file of events.", valueName: "file.ndjson"))
    var events: String

    @Option(name: .long, help: ArgumentHelp("Write one match count per line, in pattern-file (or route) order.", valueName: "file"))
    var counts: String?

    func validate() throws {
        if (patterns == nil) == (routes == nil) { throw ValidationError("give exactly one of --patterns FILE.jsonl or --routes DIR") }
    }

    func run() async throws {
        var labels: [String] = []
        var table: RouteTable
        if let patterns {
            var list: [Route] = []
            let text = try CLIFiles.read(patterns, what: "patterns")
            var problems: [String] = []
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                do {
                    let json = try JSON.parse(line)
                    _ = try Pattern(json: json)
                    list.append(Route(name: "line \(n + 1)", match: json, targets: [RouteTarget(connector: "-")],
                                      location: Diagnostic(path: patterns, line: n + 1, column: 1, message: "")))
                    labels.append("\(patterns):\(n + 1)  \(line.count > 80 ? String(line.prefix(77)) + "..." : line)")
                } catch let e as PatternError {
                    problems.append("\(patterns):\(n + 1):1: \(e.message)")
                } catch let e as JSONRejection {
                    problems.append("\(patterns):\(n + 1):1: not JSON (\(e.rawValue))")
                }
            }
            if !problems.isEmpty {
                problems.forEach(CLIFiles.fail)
                throw ExitCode(2)
            }
            do { table = try RouteTable(routes: list) } catch {
                for d in error.items { CLIFiles.fail(d.description) }
                throw ExitCode(2)
            }
        } else {
            do { table = try RouteTable(routes: try RouteLoader.load(directory: routes!)) } catch {
                for d in error.items { CLIFiles.fail(d.description) }
                throw ExitCode(1)
            }
            labels = table.routes.map { "\($0.name)  (\($0.location.path):\($0.location.line))" }
        }
        let independent = patterns != nil

        guard let data = FileManager.default.contents(atPath: events) else {
            CLIFiles.fail("cannot read events file \(events)")
            throw ExitCode(1)
        }
        var perRoute = [Int](repeating: 0, count: table.routes.count)
        var total = 0
        var invalid = 0
        var matchedEvents = 0
        let parser = JSONParser(maxBytes: 4 << 20, maxDepth: 1024)
        let scratch = MatchScratch()
        let clock = ContinuousClock()
        let started = clock.now
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var start = 0
            let count = raw.count
            while start < count {
                var end = start
                while end < count && raw[end] != 0x0A { end += 1 }
                let line = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                start = end + 1
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                total += 1
                let result = parser.parse(line) { doc -> Bool in
                    let matched = independent ? table.matchIgnoringStop(doc.root, scratch: scratch) : table.match(doc.root, scratch: scratch)
                    for r in matched { perRoute[r] += 1 }
                    return !matched.isEmpty
                }
                switch result {
                case .success(let any): if any { matchedEvents += 1 }
                case .failure: invalid += 1
                }
            }
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(total) / seconds : 0
        print("events: \(total) (\(invalid) not JSON) in \(String(format: "%.3f", seconds)) s — \(Int(rate)) events/s, parsing included")
        print("events matching at least one \(independent ? "pattern" : "route"): \(matchedEvents)")
        print("matches per \(independent ? "pattern" : "route"):")
        let width = String(perRoute.max() ?? 0).count
        for (i, c) in perRoute.enumerated() {
            print("  \(String(repeating: " ", count: max(0, width - String(c).count)))\(c)  \(labels[i])")
        }
        if let counts {
            let text = perRoute.map(String.init).joined(separator: "\n") + (perRoute.isEmpty ? "" : "\n")
            guard FileManager.default.createFile(atPath: counts, contents: Data(text.utf8)) else {
                CLIFiles.fail("cannot write \(counts)")
                throw ExitCode(1)
            }
        }
    }
}
