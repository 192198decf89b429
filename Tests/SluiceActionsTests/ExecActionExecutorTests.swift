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
        let start = ContinuousClock.now
        do {
            _ = try await exec.execute(req, target: try await exec.target(req))
            Issue.record("a timed-out command succeeded")
        } catch {
            #expect(error.retryable)
            #expect(error.message.contains("timed out"))
        }
        // Well under the script's 60 s: the timeout ended it (a generous bound: CI machines are shared).
        #expect(ContinuousClock.now - start < .seconds(45))
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
}
