import Foundation
import SluiceActions
import SluiceCore
import Testing

@Suite struct ExecActionExecutorTests {
    func request(_ params: [String: ActionParameters.Value], finding: JSON) -> ActionRequest {
        ActionRequest(finding: finding, findingID: "f-1", route: "r", step: "collect", runID: "r:f-1", parameters: ActionParameters(params))
    }

    @Test func findingOnStdinEnvironmentAllowListAndOutputCaptured() async throws {
        let script = try ActionFixtures.tempScript("""
            input=$(cat)
            echo "stderr line" >&2
            printf '{"bytes": %d, "allowed": "%s", "secret": "%s", "finding": "%s", "path": "%s"}' \
              "$(printf %s "$input" | wc -c)" "$ALLOWED_VAR" "$SECRET_VAR" "$SLUICE_FINDING_ID" "$PATH"
            """)
        let env = ["ALLOWED_VAR": "yes", "SECRET_VAR": "hunter2", "PATH": "/usr/bin:/bin"]
        let exec = ExecActionExecutor(context: ActionFixtures.context(environment: env))
        let finding = try ActionFixtures.finding()
        // A value that would be a command in a shell stays one argv element.
        let req = request(["command": .list([script, "$(touch /tmp/sluice-injected); rm -rf /"]), "environment": .list(["ALLOWED_VAR", "PATH"])], finding: finding)
        let target = try await exec.target(req)
        #expect(target == ActionTarget(kind: "process", id: script))
        let out = try await exec.execute(req, target: target)
        let json = try #require(out.output["json"])
        #expect(json["allowed"] == "yes")
        #expect(json["secret"] == "", "a variable not in the allow-list reached the child")
        #expect(json["finding"] == "f-1")
        #expect(json["path"] == "/usr/bin:/bin")
        #expect(json["bytes"]?.doubleValue == Double(JSONBuilder(finding).serialized().count))
        #expect(out.output["stderr"] == "stderr line\n")
        #expect(out.output["exit_code"]?.doubleValue == 0)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/sluice-injected"))
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("grandchild-\(UUID().uuidString).pid").path
        let script = try ActionFixtures.tempScript("""
            sleep 60 &
            echo $! > \(pidFile)
            sleep 60
            """)
        let exec = ExecActionExecutor(context: ActionFixtures.context(environment: ["PATH": "/usr/bin:/bin"]))
        let req = request(["command": .list([script]), "environment": .list(["PATH"]), "timeout": .string("500ms")], finding: ["detail": ["id": "f-1"]])
        do {
            _ = try await exec.execute(req, target: try await exec.target(req))
            Issue.record("a timed-out command succeeded")
        } catch {
            #expect(error.retryable)
            #expect(error.message.contains("timed out"))
        }
        // No wall-clock bound here (a loaded machine can delay the reply by tens of seconds): the
        // "timed out" error says the timeout ended the script, and the grandchild check below says
        // the whole group went with it.
        let grandchild = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Gone, or a zombie waiting for a reaper (the container's PID 1 may not reap): not running.
        // The kill is delivered by then but its effect is asynchronous: wait for it, up to a bound
        // only a surviving child reaches.
        func state() -> String {
            let stat = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first.map(String.init) ?? "gone"
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while !["gone", "Z"].contains(state()), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(state() == "gone" || state() == "Z", "the script's background child survived the timeout (state \(state()))")
    }

    @Test func theCommandInheritsNoDescriptorOfTheRouter() async throws {
        // The test process holds sockets, files and pipes of its own (like the router: Kafka,
        // HTTP, admin, audit); a pipe is made here to be sure there is one beyond stdio.
        let held = Pipe()
        let exec = ExecActionExecutor(context: ActionFixtures.context(environment: ["PATH": "/usr/bin:/bin"]))
        let req = request(["command": .list(["/bin/ls", "/proc/self/fd"]), "environment": .list(["PATH"])], finding: ["detail": ["id": "f-1"]])
        let out = try await exec.execute(req, target: try await exec.target(req))
        // 0, 1, 2: the pipes of stdin, stdout and stderr; 3: the directory ls itself opened.
        #expect(out.output["stdout"] == "0\n1\n2\n3\n")
        withExtendedLifetime(held) {}
    }

    @Test func exitCodesAreClassified() async throws {
        let exec = ExecActionExecutor(context: ActionFixtures.context(environment: ["PATH": "/usr/bin:/bin"]))
        for (code, retryable) in [(1, false), (75, true)] {
            let script = try ActionFixtures.tempScript("echo boom >&2; exit \(code)")
            let req = request(["command": .list([script])], finding: [:])
            do {
                _ = try await exec.execute(req, target: try await exec.target(req))
                Issue.record("exit \(code) succeeded")
            } catch {
                #expect(error.retryable == retryable)
                #expect(error.message.contains("boom"))
            }
        }
        let missing = request(["command": .list(["/nonexistent/program"])], finding: [:])
        await #expect(throws: ActionError.self) { try await exec.execute(missing, target: try await exec.target(missing)) }
    }

    /// A step of route `r` from YAML, and its runner.
    static func runner(_ step: String) throws -> (PlaybookRunner, Playbook) {
        let playbooks = try ActionFixtures.playbooks("""
            name: r
            match: {source: [aws.guardduty]}
            playbook:
            \(step)
            """)
        let runner = PlaybookRunner(playbooks: playbooks, context: ActionFixtures.context(environment: ["PATH": "/usr/bin:/bin"]),
                                    audit: ActionAudit(sinks: [], logger: .init(label: "t")))
        return (runner, try #require(playbooks["r"]))
    }

    @Test func aRenderedValueStartingWithADashIsNeverAnOption() async throws {
        let argsFile = FileManager.default.temporaryDirectory.appendingPathComponent("exec-args-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: argsFile) }
        let script = try ActionFixtures.tempScript(#"for a in "$@"; do printf '%s\n' "$a" >> "\#(argsFile)"; done"#)
        let hostile = try ActionFixtures.finding("01-ec2-cryptominer.json", replacing: ["i-0a4f1c2b3d5e6f789": "--checkpoint-action=exec=touch X"])
        for command in [#"[\#(script), -v, "{{detail.resource.instanceDetails.instanceId}}"]"#,
                        #"[\#(script), "{{detail.resource.instanceDetails.instanceId}}", --]"#] {
            let (runner, playbook) = try Self.runner("""
                  - name: collect
                    action: exec
                    params: {command: \(command)}
                """)
            let outcome = await runner.run(playbook, finding: hostile)
            guard case .failed(_, let error, _) = outcome else { Issue.record("\(command): \(outcome)"); continue }
            #expect(!error.retryable && error.message.contains("refused as an option"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: argsFile), "the program ran with a finding value as an option")

        // After a literal "--" the value is an operand, and the program runs with it.
        let (runner, playbook) = try Self.runner("""
              - name: collect
                action: exec
                params: {command: [\(script), -v, "--", "{{detail.resource.instanceDetails.instanceId}}"]}
            """)
        #expect(await runner.run(playbook, finding: hostile) == .completed)
        #expect(try String(contentsOfFile: argsFile, encoding: .utf8) == "-v\n--\n--checkpoint-action=exec=touch X\n")
    }

    @Test func timeoutKillsChildrenThatLeftTheGroupWithSetsid() async throws {
        let state = try await escapedChildState { pidFile in
            """
            setsid sleep 300 &
            echo $! > \(pidFile)
            sleep 300
            """
        }
        #expect(state == "gone" || state == "Z", "the setsid child survived the timeout (state \(state))")
    }

    /// The run token is found anywhere in an escaped child's environment: here after 8,000
    /// bytes (`env -i` lays the variables out in the order given), past the first page of
    /// /proc/PID/environ.
    @Test func timeoutKillsAnEscapedChildWhoseTokenLiesPastTheFirstPageOfItsEnvironment() async throws {
        let state = try await escapedChildState { pidFile in
            """
            BIG=$(head -c 8000 /dev/zero | tr '\\0' x)
            setsid env -i BIG="$BIG" SLUICE_EXEC_RUN="$SLUICE_EXEC_RUN" /bin/sleep 300 &
            echo $! > \(pidFile)
            sleep 300
            """
        }
        #expect(state == "gone" || state == "Z", "the escaped child with a large environment survived the timeout (state \(state))")
    }

    /// Runs the script `body(pidFile)` (which starts a child outside its process group and writes
    /// its pid to `pidFile`) with a 300 ms timeout; once the run has returned (timeout + grace at
    /// most), the child's state: "gone", "Z", or the state letter of a survivor (then killed, so
    /// a failing test leaves nothing behind).
    func escapedChildState(_ body: (String) -> String) async throws -> String {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("setsid-\(UUID().uuidString).pid").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let script = try ActionFixtures.tempScript(body(pidFile))
        let exec = ExecActionExecutor(context: ActionFixtures.context(environment: ["PATH": "/usr/bin:/bin"]))
        let req = request(["command": .list([script]), "environment": .list(["PATH"]), "timeout": .string("300ms")], finding: ["detail": ["id": "f-1"]])
        do {
            _ = try await exec.execute(req, target: try await exec.target(req))
            Issue.record("a timed-out command succeeded")
        } catch {
            #expect(error.message.contains("timed out"))
        }
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let state = stat.split(separator: ")").last?.split(separator: " ").first.map(String.init) ?? "gone"
        if state != "gone" && state != "Z" { kill(pid, SIGKILL) }
        return state
    }

    @Test func aStepWithRetryAttemptsOneRunsOnce() async throws {
        let countFile = FileManager.default.temporaryDirectory.appendingPathComponent("exec-runs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: countFile) }
        let script = try ActionFixtures.tempScript("echo run >> \(countFile); exit 75")
        let (runner, playbook) = try Self.runner("""
              - name: collect
                action: exec
                params: {command: [\(script)]}
                retry: {attempts: 1}
            """)
        let outcome = await runner.run(playbook, finding: try ActionFixtures.finding())
        // Permanent for the lane: it will not start the run again.
        guard case .permanent(let message) = PlaybookConnector.classify(outcome) else { Issue.record("\(outcome)"); return }
        #expect(message.contains("after 1 attempt"))
        #expect(try String(contentsOfFile: countFile, encoding: .utf8) == "run\n")
    }
}
