import Foundation
import SluiceActions
import SluiceCore
import SluiceTestSupport
import Testing

@Suite(.serialized) struct PlaybookTests {
    func runner(_ yaml: String, settings: ActionSettings = ActionSettings(), audit: MemoryAuditSink) throws -> PlaybookRunner {
        let playbooks = try ActionFixtures.playbooks(yaml, registry: RecordingExecutor.registry)
        let context = ActionFixtures.context(settings)
        return PlaybookRunner(playbooks: playbooks, context: context, audit: ActionAudit(sinks: [audit], logger: .init(label: "t")),
                              executors: ActionRegistry.types.map { $0.init(context: context) } + [RecordingExecutor(context: context)])
    }

    @Test func invalidPlaybooksAreReportedWithTheirPositions() throws {
        let yaml = """
            name: bad
            match: {source: [aws.guardduty]}
            playbook:
              steps:
                - name: one
                  action: aws.ec2.levitate
                - name: two
                  action: exec
                  params:
                    comand: [/bin/true]
                - name: three
                  action: http
                  params: {url: "{{steps.four.output.x}}", timeout: soon}
                  on_failure: panic
                - name: four
                  action: exec
                  params: {command: [/bin/true]}
                  requires_approval: {timeout: 5m, default: maybe}
                  when: {detail: {severity: [{numeric: [">", "x"]}]}}
            """
        do {
            _ = try ActionFixtures.playbooks(yaml)
            Issue.record("an invalid playbook loaded")
        } catch let error as Diagnostics {
            let text = error.items.map(\.description)
            func has(_ line: Int, _ fragment: String) -> Bool { text.contains { $0.hasPrefix("routes/test.yaml:\(line):") && $0.contains(fragment) } }
            #expect(has(6, "unknown action 'aws.ec2.levitate'"), "\(text)")
            #expect(has(10, "exec has no parameter 'comand'"), "\(text)")
            #expect(has(10, "exec needs parameter 'command'"), "\(text)")
            #expect(has(13, "not an earlier step"), "\(text)")
            #expect(has(13, "'timeout' must be a duration"), "\(text)")
            #expect(has(14, "on_failure must be stop, continue or compensate"), "\(text)")
            #expect(has(18, "requires_approval.default must be approve or deny"), "\(text)")
            #expect(has(19, "when:"), "\(text)")
        }
    }

    @Test func aRouteWithAPlaybookNeedsNoTargetsAndUnknownKeysStillFail() throws {
        let ok = try ActionFixtures.playbooks("""
            name: only-playbook
            match: {source: [aws.guardduty]}
            playbook: [{name: a, action: exec, params: {command: [/bin/true]}}]
            """)
        #expect(ok["only-playbook"]?.steps.map(\.name) == ["a"])
        #expect(throws: Diagnostics.self) { try ActionFixtures.playbooks("name: x\nmatch: {source: [a]}\nplaybok: []\n") }
    }

    @Test func whenConditionsSeeTheFindingAndEarlierOutputsWhichTemplatesReadToo() async throws {
        let audit = MemoryAuditSink()
        let r = try runner("""
            name: cond
            match: {source: [aws.guardduty]}
            playbook:
              - name: first
                action: test.record
                params: {id: "{{detail.resource.instanceDetails.instanceId}}"}
              - name: high-only
                action: test.record
                params: {id: "sev-{{detail.severity}}"}
                when: {detail: {severity: [{numeric: [">=", 9]}]}}
              - name: after-first
                action: test.record
                params: {id: "saw-{{steps.first.output.value}}-{{steps.first.status}}"}
                when: {steps: {first: {output: {value: ["42"]}}}}
            """, audit: audit)
        #expect(await r.run(route: "cond", payload: try ActionFixtures.findingBytes()) == .completed)
        let results = audit.records.map { "\($0.step):\($0.result.rawValue):\($0.target)" }
        #expect(results == ["first:succeeded:test i-0a4f1c2b3d5e6f789", "high-only:skipped:-", "after-first:succeeded:test saw-42-succeeded"])
    }

    @Test func dryRunGlobalAndPerRouteAuditsAndDoesNothing() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("dry-\(UUID().uuidString)").path
        let script = try ActionFixtures.tempScript("touch \(marker)")
        let yaml = { (dry: Bool) in """
            name: dry
            match: {source: [aws.guardduty]}
            playbook:
              dry_run: \(dry)
              steps:
                - name: touch
                  action: exec
                  params: {command: [\(script)]}
                - name: gate
                  action: test.record
                  params: {id: x, tags: {sluice:protected: "true"}}
                  requires_approval: true
            """ }
        var global = ActionSettings()
        global.dryRun = true
        for (settings, dry) in [(global, false), (ActionSettings(), true)] {
            let audit = MemoryAuditSink()
            let r = try runner(yaml(dry), settings: settings, audit: audit)
            #expect(await r.run(route: "dry", payload: try ActionFixtures.findingBytes()) == .completed)
            #expect(!FileManager.default.fileExists(atPath: marker), "a dry run ran the command")
            #expect(audit.records.map(\.result) == [.dryRun, .awaitingApproval, .dryRun])
            #expect(audit.records[2].detail.contains("would be refused"))
        }
    }

    @Test func failurePoliciesStopContinueAndCompensate() async throws {
        let audit = MemoryAuditSink()
        let r = try runner("""
            routes:
              - name: stop
                match: {source: [aws.guardduty]}
                playbook:
                  - {name: a, action: test.record, params: {id: a}}
                  - {name: b, action: test.record, params: {id: b, fail: retryable}, retry: {attempts: 2, backoff: 1ms}}
                  - {name: c, action: test.record, params: {id: c}}
              - name: continue
                match: {source: [aws.guardduty]}
                playbook:
                  - {name: a, action: test.record, params: {id: a, fail: permanent}, on_failure: continue}
                  - {name: b, action: test.record, params: {id: "b-{{steps.a.status}}"}}
              - name: compensate
                match: {source: [aws.guardduty]}
                playbook:
                  - name: a
                    action: test.record
                    params: {id: a, fail: permanent}
                    on_failure: compensate
                    compensate: [{name: undo-a, action: test.record, params: {id: "undo-{{steps.a.output.error}}"}}]
                  - {name: never, action: test.record, params: {id: never}}
            """, audit: audit)
        let payload = try ActionFixtures.findingBytes()
        let stop = await r.run(route: "stop", payload: payload)
        // Step b declares its retry: once its attempts are spent the failure is final, and the
        // first step changed something anyway: the lane must not run the playbook again.
        #expect(stop == .failed(step: "b", error: .permanent("told to fail, retryably (after 2 attempts)"), changed: true))
        #expect(PlaybookConnector.classify(stop) == .permanent("playbook step 'b': told to fail, retryably (after 2 attempts)"))
        #expect(audit.records.filter { $0.route == "stop" }.map(\.step) == ["a", "b", "b"])
        #expect(await r.run(route: "continue", payload: payload) == .completed)
        #expect(audit.records.last?.target == "test b-failed")
        let comp = await r.run(route: "compensate", payload: payload)
        #expect(comp == .failed(step: "a", error: .permanent("told to fail"), changed: false))
        let trail = audit.records.filter { $0.route == "compensate" }.map { "\($0.step):\($0.result.rawValue)" }
        #expect(trail == ["a:failed", "undo-a:succeeded", "a:compensated"])
        #expect(audit.records.last(where: { $0.step == "undo-a" })?.target == "test undo-told to fail")
    }

    @Test func guardsRefuseProtectedTargetsAndCapActions() async throws {
        var settings = ActionSettings()
        settings.guards.protectedTags = [("sluice:protected", "true"), ("DoNotTouch", nil)]
        settings.guards.protectedAccounts = ["999999999999"]
        settings.guards.maxPerHour = ["test.record": 3]
        settings.guards.maxPerHourPerRoute = 2
        let audit = MemoryAuditSink()
        let r = try runner("""
            routes:
              - name: tags
                match: {source: [aws.guardduty]}
                playbook: [{name: a, action: test.record, params: {id: p1, tags: {DoNotTouch: "", team: x}, token: hunter2}}]
              - name: account
                match: {source: [aws.guardduty]}
                playbook: [{name: a, action: test.record, params: {id: p2, account: "999999999999"}}]
              - name: capped
                match: {source: [aws.guardduty]}
                playbook: [{name: a, action: test.record, params: {id: "{{detail.id}}"}}]
              - name: other
                match: {source: [aws.guardduty]}
                playbook: [{name: a, action: test.record, params: {id: "{{detail.id}}"}}]
            """, settings: settings, audit: audit)
        let refused = await r.run(route: "tags", payload: try ActionFixtures.findingBytes())
        guard case .refused(_, let reason) = refused else { Issue.record("not refused: \(refused)"); return }
        #expect(reason.contains("DoNotTouch"))
        #expect(PlaybookConnector.classify(refused) == .delivered)
        #expect(audit.records.last?.result == .refused)
        #expect(audit.records.last?.parameters["token"] == "<redacted>")
        guard case .refused(_, let r2) = await r.run(route: "account", payload: try ActionFixtures.findingBytes()) else { Issue.record("account not refused"); return }
        #expect(r2.contains("account 999999999999"))

        var outcomes: [String] = []
        for (i, name) in ["01-ec2-cryptominer.json", "02-ec2-reverse-shell.json", "03-eks-container-mining.json"].enumerated() {
            let route = i < 3 ? "capped" : "other"
            outcomes.append("\(await r.run(route: route, payload: try ActionFixtures.findingBytes(name)))")
        }
        #expect(outcomes[0] == "completed" && outcomes[1] == "completed")
        #expect(outcomes[2].contains("reached its limit of 2 actions per hour") && outcomes[2].contains("capped"))
        #expect(await r.run(route: "other", payload: try ActionFixtures.findingBytes("04-eks-privilege-escalation.json")) == .completed)
        let last = await r.run(route: "other", payload: try ActionFixtures.findingBytes("05-ecs-fargate-reverse-shell.json"))
        #expect("\(last)".contains("test.record reached its limit of 3"))
        #expect(audit.records.filter { $0.result == .refused }.count == 4)
    }

    @Test func actionsThatChangedNothingDoNotUseUpTheHourlyCap() async throws {
        var settings = ActionSettings()
        settings.guards.maxPerHour = ["test.record": 1]
        let audit = MemoryAuditSink()
        let r = try runner("""
            name: noop
            match: {source: [aws.guardduty]}
            playbook: [{name: a, action: test.record, params: {id: "{{detail.id}}", unchanged: "true"}}]
            """, settings: settings, audit: audit)
        for name in ["01-ec2-cryptominer.json", "02-ec2-reverse-shell.json", "03-eks-container-mining.json"] {
            #expect(await r.run(route: "noop", payload: try ActionFixtures.findingBytes(name)) == .completed)
        }
        #expect(audit.records.map(\.result) == [.unchanged, .unchanged, .unchanged])
    }
}

@Suite struct ConcurrentIsolationCapTests {
    @Test func isolationsBeyondTheConcurrencyCapAreRefusedUntilOneEnds() async throws {
        var settings = ActionSettings()
        settings.guards.maxConcurrentIsolations = 1
        let audit = MemoryAuditSink()
        let context = ActionFixtures.context(settings)
        let playbooks = try ActionFixtures.playbooks("""
            name: slow
            match: {source: [aws.guardduty]}
            playbook: [{name: isolate, action: test.record, params: {id: "{{detail.id}}", delay_ms: "2000"}}]
            """, registry: RecordingExecutor.registry)
        let r = PlaybookRunner(playbooks: playbooks, context: context, audit: ActionAudit(sinks: [audit], logger: .init(label: "t")),
                               executors: [RecordingExecutor(context: context)])
        let firstPayload = try ActionFixtures.findingBytes("01-ec2-cryptominer.json")
        async let first = r.run(route: "slow", payload: firstPayload)
        // The first isolation holds the slot once its action started (the executor records that).
        let deadline = ContinuousClock.now + .seconds(60)
        while !RecordingExecutor.calls.withLock({ $0.contains { $0.hasPrefix("slow:") } }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let second = await r.run(route: "slow", payload: try ActionFixtures.findingBytes("02-ec2-reverse-shell.json"))
        #expect(await first == .completed)
        guard case .refused(_, let reason) = second else { Issue.record("not refused: \(second)"); return }
        #expect(reason.contains("1 isolations already under way (limit 1)"))
        // The slot is free again once the first isolation ended.
        #expect(await r.run(route: "slow", payload: try ActionFixtures.findingBytes("03-eks-container-mining.json")) == .completed)
    }
}

@Suite struct PlaybookExampleTests {
    @Test func theExamplePlaybooksValidateAndMatchTheSampleFindings() throws {
        let dir = PackagePaths.root.appendingPathComponent("examples/playbooks").path
        let routes = try RouteLoader.load(directory: dir, environment: [:])
        let playbooks = try PlaybookLoader.load(routes: routes)
        #expect(playbooks.count == 4)
        let table = try RouteTable(routes: routes)
        func matched(_ name: String) throws -> [String] {
            table.referenceMatch(try ActionFixtures.finding(name)).map { table.routes[$0].name }
        }
        #expect(try matched("01-ec2-cryptominer.json") == ["quarantine-compromised-instances"])
        #expect(try matched("03-eks-container-mining.json") == ["isolate-mining-pods"])
        #expect(try matched("05-ecs-fargate-reverse-shell.json") == ["stop-compromised-tasks"])
        #expect(try matched("07-iam-tor-caller.json") == ["disable-abused-keys"])
    }
}
