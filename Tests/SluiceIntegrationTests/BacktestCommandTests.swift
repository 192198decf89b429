import Foundation
import SluiceTestSupport
import Testing

/// `sluice backtest` run as a child process on NDJSON histories written here: counts,
/// suppressed counts, unmatched ids, the time window, streaming and progress.
@Suite struct BacktestCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary to its end; the reads and the wait happen off the cooperative pool.
    static func sluice(_ arguments: [String]) async throws -> Run {
        try await offPool {
            let p = Process()
            p.executableURL = SluiceProcess.binary
            p.arguments = arguments
            let out = Pipe.closedOnExec(), err = Pipe.closedOnExec()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            // Drain stderr on its own thread: a full pipe would block the child.
            nonisolated(unsafe) var errData = Data()
            let drained = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                errData = err.fileHandleForReading.readDataToEndOfFile()
                drained.signal()
            }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            drained.wait()
            p.waitUntilGone()
            return Run(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
        }
    }

    static func finding(id: String, severity: Double, role: String, resourceType: String, updatedAt: String = "2025-05-20T03:29:41.077Z") -> String {
        #"{"version":"0","id":"ev-\#(id)","detail-type":"GuardDuty Finding","source":"aws.guardduty","account":"111122223333","time":"2025-05-20T03:29:41Z","region":"us-east-1","detail":{"id":"\#(id)","type":"Recon:EC2/Portscan","severity":\#(severity),"updatedAt":"\#(updatedAt)","resource":{"resourceType":"\#(resourceType)"},"service":{"resourceRole":"\#(role)"}}}"#
    }

    /// Three routes: high severity (suppressed when the resource is the actor), EC2 instances,
    /// and one that never matches.
    static func routesDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-backtest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
        routes:
          - name: high
            match: {"detail": {"severity": [{"numeric": [">=", 7]}]}}
            suppress:
              - {"detail": {"service": {"resourceRole": ["ACTOR"]}}}
            targets: [sink]
          - name: ec2
            match: {"detail": {"resource": {"resourceType": ["Instance"]}}}
            targets: [sink]
          - name: never
            match: {"source": ["aws.never"]}
            targets: [sink]
        """.write(to: dir.appendingPathComponent("routes.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    static func write(_ lines: [String]) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-backtest-\(UUID().uuidString).ndjson")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// The count printed for route `name`: "  <count>  (<suppressed> suppressed)  <name>  (...)".
    static func counts(_ stdout: String, route name: String) -> (matched: Int, suppressed: Int)? {
        for line in stdout.split(separator: "\n") where line.contains("suppressed)  \(name)  (") {
            let numbers = line.split(whereSeparator: { $0 == " " || $0 == "(" }).compactMap { Int($0) }
            if numbers.count >= 2 { return (numbers[0], numbers[1]) }
        }
        return nil
    }

    @Test func countsMatchesSuppressionsAndListsUnmatchedFindings() async throws {
        let routes = try Self.routesDirectory()
        defer { try? FileManager.default.removeItem(at: routes) }
        let events = try Self.write([
            Self.finding(id: "f1", severity: 8, role: "TARGET", resourceType: "Instance"),  // high, ec2
            Self.finding(id: "f2", severity: 8, role: "ACTOR", resourceType: "Instance"),  // high suppressed, ec2
            Self.finding(id: "f3", severity: 3, role: "TARGET", resourceType: "EKSCluster"),  // nothing
            "",
            "not json",
            Self.finding(id: "f4", severity: 9, role: "ACTOR", resourceType: "EKSCluster"),  // high suppressed: nothing
            Self.finding(id: "f5\\nforged", severity: 2, role: "TARGET", resourceType: "Instance"),  // ec2
        ])
        defer { try? FileManager.default.removeItem(at: events) }
        let unmatched = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-unmatched-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: unmatched) }
        let run = try await Self.sluice(["backtest", "--routes", routes.path, "--events", events.path, "--unmatched", unmatched.path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("events: 6 (1 not JSON or too long)"))
        #expect(run.stdout.contains("events matching at least one route: 3; matching none: 2"))
        #expect(Self.counts(run.stdout, route: "high")! == (1, 2))
        #expect(Self.counts(run.stdout, route: "ec2")! == (3, 0))
        #expect(Self.counts(run.stdout, route: "never")! == (0, 0))
        #expect(try String(contentsOf: unmatched, encoding: .utf8) == "f3\nf4\n")

        // To stdout with "-"; an id's control characters never reach the output.
        let listed = try await Self.sluice(["backtest", "--patterns", try Self.write([#"{"detail": {"severity": [{"numeric": [">", 4]}]}}"#]).path,
                                      "--events", events.path, "--unmatched", "-"])
        #expect(listed.status == 0)
        let ids = listed.stdout.split(separator: "\n").filter { $0.hasPrefix("f") }
        #expect(ids == ["f3", "f5?forged"])
    }

    @Test func sinceAndUntilKeepFindingsOfTheWindow() async throws {
        let routes = try Self.routesDirectory()
        defer { try? FileManager.default.removeItem(at: routes) }
        let events = try Self.write([
            Self.finding(id: "jan", severity: 8, role: "TARGET", resourceType: "Instance", updatedAt: "2025-01-15T10:00:00Z"),
            Self.finding(id: "feb-end", severity: 8, role: "TARGET", resourceType: "Instance", updatedAt: "2025-02-28T23:59:59.999Z"),
            Self.finding(id: "mar-start", severity: 8, role: "TARGET", resourceType: "Instance", updatedAt: "2025-03-01T00:00:00Z"),
            Self.finding(id: "mar-offset", severity: 2, role: "TARGET", resourceType: "Instance", updatedAt: "2025-03-01T01:30:00+02:00"),
            Self.finding(id: "apr", severity: 8, role: "TARGET", resourceType: "Instance", updatedAt: "2025-04-01T00:00:00Z"),
            Self.finding(id: "bad-time", severity: 8, role: "TARGET", resourceType: "Instance", updatedAt: "yesterday"),
        ])
        defer { try? FileManager.default.removeItem(at: events) }
        // [2025-03-01, 2025-04-01): mar-start only; mar-offset is 2025-02-28T23:30Z.
        let run = try await Self.sluice(["backtest", "--routes", routes.path, "--events", events.path,
                                   "--since", "2025-03-01", "--until", "2025-04-01T00:00:00Z", "--unmatched", "-"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("events outside --since/--until: 4; without a finding time: 1"))
        #expect(Self.counts(run.stdout, route: "high")! == (1, 0))
        #expect(Self.counts(run.stdout, route: "ec2")! == (1, 0))

        let open = try await Self.sluice(["backtest", "--routes", routes.path, "--events", events.path, "--since", "2025-02-28T23:00:00Z"])
        #expect(Self.counts(open.stdout, route: "ec2")! == (4, 0))  // feb-end, mar-start, mar-offset, apr

        let invalid = try await Self.sluice(["backtest", "--routes", routes.path, "--events", events.path, "--since", "March"])
        #expect(invalid.status != 0)
        #expect(invalid.stderr.contains("--since"))
    }

    @Test func streamsALargeHistoryInFlatMemoryWithProgress() async throws {
        let routes = try Self.routesDirectory()
        defer { try? FileManager.default.removeItem(at: routes) }
        func history(_ findings: Int) throws -> URL {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-history-\(UUID().uuidString).ndjson")
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            defer { try? handle.close() }
            // Lines of varying length, so lines straddle the reader's chunk boundaries.
            var block = ""
            for k in 0..<1_000 {
                block += Self.finding(id: "f\(k)" + String(repeating: "x", count: k % 97), severity: Double(k % 10), role: "TARGET", resourceType: "Instance") + "\n"
            }
            let data = Data(block.utf8)
            for _ in 0..<(findings / 1_000) { try handle.write(contentsOf: data) }
            return file
        }
        let small = try history(2_000)
        let large = try history(120_000)
        defer {
            try? FileManager.default.removeItem(at: small)
            try? FileManager.default.removeItem(at: large)
        }
        let largeSize = try FileManager.default.attributesOfItem(atPath: large.path)[.size] as? Int ?? 0
        #expect(largeSize > 40 << 20)

        func peak(_ run: Run) -> Int? {
            run.stdout.split(separator: "\n").first { $0.hasPrefix("peak memory: ") }.flatMap { Int($0.split(separator: " ")[2]) }
        }
        let first = try await Self.sluice(["backtest", "--routes", routes.path, "--events", small.path, "--progress", "0"])
        let second = try await Self.sluice(["backtest", "--routes", routes.path, "--events", large.path, "--progress", "0.000001"])
        #expect(first.status == 0 && second.status == 0)
        #expect(second.stdout.contains("events: 120000 (0 not JSON or too long)"))
        #expect(Self.counts(second.stdout, route: "ec2")! == (120_000, 0))
        // 40+ MB more input, the same memory: nothing grows with the file.
        let smallPeak = try #require(peak(first))
        let largePeak = try #require(peak(second))
        #expect(largePeak < smallPeak + 16, "peak \(smallPeak) MB for 2,000 findings, \(largePeak) MB for 120,000")
        #expect(!first.stderr.contains("backtest: "))
        #expect(second.stderr.contains("backtest: "))
        #expect(second.stderr.contains(" MB of \(largeSize >> 20) MB ("))
    }
}
