import ArgumentParser
import Foundation
import SluiceCore
import SluiceFormats

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
            and skipped. Nothing is sent. The events file is streamed (memory stays flat in its \
            size; - reads stdin) with progress on stderr. --since/--until keep findings whose time \
            (detail.updatedAt, else updatedAt, else the envelope's time; ISO 8601) is in \
            [since, until). With --routes, each route's suppressed count is the findings its \
            pattern matched but a suppression removed. Events are decoded as `sluice run` decodes \
            them: with --config, its max_message_bytes and max_depth; with --topic too, that topic's format:.
            """)

    @Option(name: .long, help: ArgumentHelp("JSON Lines file of event patterns.", valueName: "file.jsonl"))
    var patterns: String?

    @Option(name: .long, help: ArgumentHelp("Directory of route files.", valueName: "dir"))
    var routes: String?

    @Option(name: .long, help: ArgumentHelp("NDJSON file of events (- for stdin), streamed.", valueName: "file.ndjson"))
    var events: String

    @Option(name: .long, help: ArgumentHelp("Only findings at or after this time (ISO 8601, e.g. 2025-05-01 or 2025-05-01T12:00:00Z).", valueName: "time"))
    var since: String?

    @Option(name: .long, help: ArgumentHelp("Only findings before this time (ISO 8601).", valueName: "time"))
    var until: String?

    @Option(name: .long, help: ArgumentHelp("Write the ids of findings that matched nothing, one per line (- for stdout).", valueName: "file"))
    var unmatched: String?

    @Option(name: .long, help: ArgumentHelp("Seconds between progress lines on stderr (0: none).", valueName: "seconds"))
    var progress: Double = 10

    @Option(name: .long, help: ArgumentHelp("Write one match count per line, in pattern-file (or route) order.", valueName: "file"))
    var counts: String?

    @OptionGroup var reading: EventReadingOptions

    func validate() throws {
        if (patterns == nil) == (routes == nil) { throw ValidationError("give exactly one of --patterns FILE.jsonl or --routes DIR") }
        if let since, FindingTime.parse(since) == nil { throw ValidationError("--since: not an ISO 8601 time: \(since)") }
        if let until, FindingTime.parse(until) == nil { throw ValidationError("--until: not an ISO 8601 time: \(until)") }
        if !(progress >= 0) { throw ValidationError("--progress: seconds must be 0 or more") }
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
        // The same decode-and-normalise as `run` (limits and topic format of --config, bare
        // wrap, split, `sluice` view); a line over max_message_bytes is rejected as run rejects it.
        let settings = try reading.settings()
        let decoder = reading.decoder(settings)
        let maxBytes = decoder.limits.maxBytes
        let reader: NDJSONLineReader
        do { reader = try NDJSONLineReader(path: events, maxLine: maxBytes, padding: JSONParser.padding) } catch {
            CLIFiles.fail("cannot read events file \(events)")
            throw ExitCode(1)
        }
        var unmatchedFile: UnsafeMutablePointer<FILE>?
        if let unmatched, unmatched != "-" {
            unmatchedFile = fopen(unmatched, "w")
            if unmatchedFile == nil {
                CLIFiles.fail("cannot write \(unmatched)")
                throw ExitCode(1)
            }
        }
        defer { if let f = unmatchedFile { fclose(f) } }
        let listUnmatched = unmatched != nil
        let since = since.flatMap(FindingTime.parse) ?? -Double.infinity
        let until = until.flatMap(FindingTime.parse) ?? Double.infinity
        let window = self.since != nil || self.until != nil

        var perRoute = [Int](repeating: 0, count: table.routes.count)
        var suppressed = [Int](repeating: 0, count: table.routes.count)
        var total = 0, invalid = 0, matchedEvents = 0, outside = 0, untimed = 0, unmatchedEvents = 0, findings = 0
        let scratch = MatchScratch()
        let clock = ContinuousClock()
        let started = clock.now
        var lastProgress = started
        func elapsed(since t: ContinuousClock.Instant) -> Double {
            let d = clock.now - t
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        reader.forEachLine({ line in
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            total += 1
            let rejection = decoder.decode(line, padded: true) { finding -> Void in
                findings += 1
                let root = finding.event
                if window {
                    guard let t = BacktestCommand.findingTime(root) else {
                        untimed += 1
                        return
                    }
                    if t < since || t >= until {
                        outside += 1
                        return
                    }
                }
                let matched: [Int]
                if independent {
                    matched = table.matchIgnoringStop(root, scratch: scratch)
                } else {
                    let outcome = table.matchReportingSuppressed(root, scratch: scratch)
                    matched = outcome.routes
                    for r in outcome.suppressed { suppressed[r] += 1 }
                }
                for r in matched { perRoute[r] += 1 }
                if matched.isEmpty {
                    unmatchedEvents += 1
                    if listUnmatched {
                        let id = BacktestCommand.findingId(root, line: total)
                        if let f = unmatchedFile { fputs(id + "\n", f) } else { print(id) }
                    }
                } else {
                    matchedEvents += 1
                }
            }
            if rejection != nil { invalid += 1 }
            if progress > 0 && elapsed(since: lastProgress) >= progress {
                lastProgress = clock.now
                var text = "backtest: \(total) events, \(reader.bytesRead >> 20) MB"
                if let size = reader.totalBytes, size > 0 { text += " of \(size >> 20) MB (\(reader.bytesRead * 100 / size) %)" }
                let seconds = elapsed(since: started)
                if seconds > 0 { text += ", \(Int((Double(total) / seconds).rounded())) events/s" }
                CLIFiles.fail(text)
            }
        }, tooLong: { invalid += 1; total += 1 })
        let seconds = elapsed(since: started)
        let rate = seconds > 0 ? Double(total) / seconds : 0
        print("events: \(total) (\(invalid) not JSON or too long) in \(String(format: "%.3f", seconds)) s — \(Int(rate.rounded())) events/s, parsing included")
        // A split record counts once per finding below: say so, or 27 matches of 26 events puzzle.
        if findings != total - invalid {
            print("findings: \(findings) (a record holding several, such as a Security Hub event, is judged finding by finding, as run delivers it; the counts below are findings)")
        }
        if window { print("events outside --since/--until: \(outside); without a finding time: \(untimed)") }
        print("events matching at least one \(independent ? "pattern" : "route"): \(matchedEvents); matching none: \(unmatchedEvents)")
        print("matches per \(independent ? "pattern" : "route")\(independent ? "" : " (and suppressed)"):")
        let width = String(perRoute.max() ?? 0).count
        let suppressedWidth = String(suppressed.max() ?? 0).count
        for (i, c) in perRoute.enumerated() {
            let count = String(repeating: " ", count: max(0, width - String(c).count)) + String(c)
            if independent {
                print("  \(count)  \(labels[i])")
            } else {
                let s = String(suppressed[i])
                print("  \(count)  (\(String(repeating: " ", count: max(0, suppressedWidth - s.count)))\(s) suppressed)  \(labels[i])")
            }
        }
        print("peak memory: \(BacktestCommand.peakMemoryMB()) MB")
        if let counts {
            let text = perRoute.map(String.init).joined(separator: "\n") + (perRoute.isEmpty ? "" : "\n")
            guard FileManager.default.createFile(atPath: counts, contents: Data(text.utf8)) else {
                CLIFiles.fail("cannot write \(counts)")
                throw ExitCode(1)
            }
        }
    }
}

extension BacktestCommand {
    /// The finding's own time: `detail.updatedAt` (EventBridge envelope), `updatedAt` (bare
    /// finding), else the envelope's `time`.
    static func findingTime(_ root: JSONView) -> Double? {
        for path in ["detail.updatedAt", "updatedAt", "time"] {
            if let bytes = root.value(atPath: path)?.stringBytes { return FindingTime.parse(bytes) }
        }
        return nil
    }

    /// The finding id (`detail.id`, else `id`) as one printable line: finding text never
    /// carries a newline or control byte into the output.
    static func findingId(_ root: JSONView, line: Int) -> String {
        guard let bytes = root.value(atPath: "detail.id")?.stringBytes ?? root["id"]?.stringBytes, !bytes.isEmpty else {
            return "(no id: event \(line))"
        }
        let clean = bytes.prefix(256).map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }
        return String(decoding: clean, as: UTF8.self)
    }

    /// The process's peak resident memory (VmHWM), in MB.
    static func peakMemoryMB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") ?? 0) / 1024
        }
        return 0
    }
}
