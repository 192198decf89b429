import Foundation
import SluiceTestSupport
import Testing

/// An offline run reading a live stream (stdin kept open, nothing more to read) stops when it
/// must, without waiting for the next line: on SIGTERM, and when a part of the run fails.
struct RunStopTests {
    /// A `sluice run --input -` whose stdin stays open until the test ends.
    struct StdinRun {
        let process = Process()
        let stdin = Pipe.closedOnExec()
        let stderr = Pipe.closedOnExec()

        init(config: TestConfig, extra: [String] = []) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ChildProcess.unblockingSignals + [PackagePaths.sluiceBinary.path, "run", "--input", "-", "--routes", config.routes,
                                                                  "--connectors", config.connectors, "--log-level", "warning"] + extra
            process.standardInput = stdin
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        /// Waits for the exit up to `timeout` (the bound is for a hang, which never exits);
        /// true when it exited.
        func waitForExit(timeout: Double) async throws -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            return !process.isRunning
        }

        /// SIGKILL and return at once (a reaper thread collects the exit).
        func end() {
            ChildProcess.killNow(process)
            stdin.fileHandleForWriting.closeFile()
        }

        /// `end()`, returning once the process is gone.
        func endAndWait() async {
            end()
            await process.waitForExit()
        }
    }

    @Test func aRunWhoseAdminPortIsTakenExitsWithTheCauseWhileItsInputIsOpen() async throws {
        // A real server holds the port the run asks for.
        try await withRunHarness { harness in
            let (holder, config) = try await harness.webhook()
            let run = try StdinRun(config: config, extra: ["--admin-listen", "127.0.0.1:\(holder.port)"])
            harness.onStop({ run.end() }, andWait: { await run.endAndWait() })
            // Before the fix the run kept reading stdin (and served nothing of its own) until stdin closed.
            #expect(try await run.waitForExit(timeout: 60), "the run kept running with its admin port taken")
            let stderr = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(run.process.terminationStatus == 1)
            #expect(stderr.contains("admin: cannot listen on 127.0.0.1:\(holder.port): Address already in use"), "\(stderr)")
        }
    }

    @Test func sigtermStopsARunWaitingOnASilentStdin() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook()
            let run = try StdinRun(config: config)
            harness.onStop({ run.end() }, andWait: { await run.endAndWait() })
            // One delivery first: the run is past start-up and waiting for more input.
            let finding = try #require(try Findings.unique(1).first)
            run.stdin.fileHandleForWriting.write(Data(finding.bytes + [0x0A]))
            try await receiver.waitForCount(1, timeout: 60)
            #expect(receiver.count == 1)
            kill(run.process.processIdentifier, SIGTERM)
            #expect(try await run.waitForExit(timeout: 60), "SIGTERM did not stop a run blocked on stdin")
            #expect(run.process.terminationStatus == 0)
        }
    }
}
