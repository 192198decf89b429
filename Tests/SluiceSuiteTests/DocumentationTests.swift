import Foundation
import SluiceCore
import SluiceRuntime
import SluiceTestSupport
import Testing

/// Issue 11, point 9: what the documentation shows works as written.
@Suite struct DocumentationTests {
    static let root = PackagePaths.root

    /// The Markdown a newcomer reads.
    static func documents() throws -> [URL] {
        var out = ["README.md", "routes/README.md", "examples/README.md", "deploy/README.md"].map { root.appendingPathComponent($0) }
        let docs = root.appendingPathComponent("docs")
        out += try FileManager.default.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".md") }.sorted()
            .map { docs.appendingPathComponent($0) }
        return out
    }

    /// Each ```yaml block, with whether the line before it marks it as a fragment.
    static func yamlSnippets(_ text: String) -> [(yaml: String, line: Int, fragment: Bool)] {
        let lines = text.components(separatedBy: "\n")
        var out: [(String, Int, Bool)] = []
        var i = 0
        while i < lines.count {
            if lines[i].trimmingCharacters(in: .whitespaces) == "```yaml" {
                let fragment = i > 0 && lines[i - 1].hasPrefix("<!-- snippet: fragment")
                var body: [String] = []
                var j = i + 1
                while j < lines.count, lines[j].trimmingCharacters(in: .whitespaces) != "```" { body.append(lines[j]); j += 1 }
                out.append((body.joined(separator: "\n") + "\n", i + 1, fragment))
                i = j
            }
            i += 1
        }
        return out
    }

    /// Every YAML snippet is a route file, a route test file, a connector or a run configuration,
    /// and `sluice validate` (or `sluice test --suite`) accepts it — or it says it is a fragment.
    @Test func everyYAMLSnippetValidatesAsWritten() async throws {
        var checked = 0
        for doc in try Self.documents() {
            let text = try String(contentsOf: doc, encoding: .utf8)
            for (yaml, line, fragment) in Self.yamlSnippets(text) where !fragment {
                let at = "\(doc.lastPathComponent):\(line)"
                // A checkout-like directory: the snippet beside the shipped connectors and examples.
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("doc-snippet-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: dir) }
                let routes = dir.appendingPathComponent("routes")
                try FileManager.default.createDirectory(at: routes.appendingPathComponent("tests"), withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("examples"), withDestinationURL: Self.root.appendingPathComponent("examples"))
                try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("connectors"), withDestinationURL: Self.root.appendingPathComponent("connectors"))
                let keys = Set(yaml.components(separatedBy: "\n").compactMap { l -> String? in
                    guard let c = l.firstIndex(of: ":"), let f = l.first, f != " ", f != "#", f != "-" else { return nil }
                    return String(l[..<c])
                })
                let result: (Int32, String)
                if keys.contains("cases") {
                    try yaml.write(to: routes.appendingPathComponent("tests/snippet.yaml"), atomically: true, encoding: .utf8)
                    try FileManager.default.copyItem(at: Self.root.appendingPathComponent("routes/guardduty.yaml"), to: routes.appendingPathComponent("guardduty.yaml"))
                    result = try await SluiceCommand.run(["test", "--suite", "routes/tests"], in: dir)
                } else if keys.contains("match") || keys.contains("routes") {
                    try yaml.write(to: routes.appendingPathComponent("snippet.yaml"), atomically: true, encoding: .utf8)
                    result = try await SluiceCommand.run(["validate"], in: dir)
                } else if keys.contains("brokers") || keys.contains("actions") || keys.contains("topics") {
                    try yaml.write(to: dir.appendingPathComponent("sluice.yaml"), atomically: true, encoding: .utf8)
                    try FileManager.default.copyItem(at: Self.root.appendingPathComponent("routes/guardduty.yaml"), to: routes.appendingPathComponent("guardduty.yaml"))
                    result = try await SluiceCommand.run(["validate", "--config", "sluice.yaml"], in: dir)
                } else {
                    Issue.record("\(at): a YAML snippet that is neither a route, a route test nor a run configuration; mark it `<!-- snippet: fragment … -->` if it is a part")
                    continue
                }
                #expect(result.0 == 0, "\(at): \(result.1)")
                // Beside the shipped connectors: their kafka archive names no brokers (a run gives them).
                let warnings = result.1.split(separator: "\n").filter { $0.contains("warning:") && !$0.contains("(kafka) has no brokers") }
                #expect(warnings.isEmpty, "\(at): \(result.1)")
                checked += 1
            }
        }
        #expect(checked >= 2)
    }

    @Test func theExampleRunConfigurationHasEveryKeyAndValidates() async throws {
        let (status, output) = try await SluiceCommand.run(["validate", "--config", "examples/sluice.yaml"], in: Self.root)
        #expect(status == 0, "\(output)")
        let path = Self.root.appendingPathComponent("examples/sluice.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // Every key the run configuration's readers ask for while they load the example
        // (RunSettings+File.swift, ActionSettings, AWSSettings, GuardSettings…), learnt from the
        // readers themselves: a key added to a reader without an example here fails.
        let recorder = KeyRecorder()
        try MappingReader.$keyRecorder.withValue(recorder) {
            _ = try RunSettings.load(configFile: path, environment: ["SLUICE_BROKERS": "127.0.0.1:9092"])
        }
        // Keys every version of the file has had: the recorder must see them (it is alive).
        for key in ["brokers", "static_membership", "group_instance_id", "assignor", "watch", "tls", "topic", "format", "guards"] {
            #expect(recorder.keys.contains(key), "the readers of the run configuration no longer ask for \(key)?")
        }
        // Shown as a key, in use or commented out (`# profile: security`), in a mapping or a flow entry.
        for key in recorder.keys.sorted() {
            let shown = text.range(of: "(^|[\\s{,#-])\(NSRegularExpression.escapedPattern(for: key)):", options: .regularExpression) != nil
            #expect(shown, "examples/sluice.yaml lacks \(key)")
        }
    }

    /// A commented-out block of a YAML file: `# key: …` at some column, with the commented lines
    /// below it at the same `#` column whose text is indented further (its children).
    struct CommentedBlock {
        let line: Int          // 1-based, of the block's first line
        let keys: [String]     // every key the block shows, its own first
        let uncommented: String  // the whole file with only this block uncommented
    }

    static func commentedBlocks(_ text: String) throws -> [CommentedBlock] {
        let lines = text.components(separatedBy: "\n")
        // A commented key: lower-case, as every key of ours and librdkafka's is (so prose such as
        // `# Kafka: where findings come from.` is not taken for one).
        let key = try NSRegularExpression(pattern: "^( *)# ( *)([a-z_][a-z0-9_.]*):( |$)")
        func match(_ line: String) -> (hash: Int, indent: Int, key: String)? {
            let ns = line as NSString
            guard let m = key.firstMatch(in: line, range: NSRange(location: 0, length: ns.length)) else { return nil }
            return (m.range(at: 1).length, m.range(at: 2).length, ns.substring(with: m.range(at: 3)))
        }
        var out: [CommentedBlock] = []
        for (i, first) in lines.enumerated() {
            guard let head = match(first), head.indent == 0 else { continue }
            var keys = [head.key]
            var end = i + 1
            while end < lines.count, let child = match(lines[end]), child.hash == head.hash, child.indent > 0 {
                keys.append(child.key); end += 1
            }
            var changed = lines
            for j in i..<end {
                // Drop the `# ` so the text lands at the `#`'s column: the block's own indentation.
                var l = Array(changed[j])
                l.removeSubrange(head.hash..<(head.hash + 2))
                changed[j] = String(l)
            }
            out.append(CommentedBlock(line: i + 1, keys: keys, uncommented: changed.joined(separator: "\n")))
        }
        return out
    }

    /// Issue 11, point 9: the keys shown commented out in examples/sluice.yaml are right too. Each
    /// commented block is uncommented alone and the file loaded: it must load without a problem,
    /// and the readers must ask for every key the block shows (librdkafka's under `kafka:` must
    /// reach the client's properties), so a misspelt or misplaced example key fails here.
    @Test func everyCommentedOutBlockOfTheExampleRunConfigurationIsRightToo() throws {
        let text = try String(contentsOfFile: Self.root.appendingPathComponent("examples/sluice.yaml").path, encoding: .utf8)
        let blocks = try Self.commentedBlocks(text)
        // The blocks the file has today (the scanner is alive); a new block is checked too.
        let firstKeys = Set(blocks.map { $0.keys[0] })
        for expected in ["group_instance_id", "group_stall_timeout", "tls", "sasl.password", "endpoint", "profile", "credentials", "external_id"] {
            #expect(firstKeys.contains(expected), "no commented-out block `\(expected):` found; blocks: \(firstKeys.sorted())")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("commented-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Values for the variables the examples name, as a user's environment would give them.
        let environment = ["SLUICE_BROKERS": "127.0.0.1:9092", "SLUICE_KAFKA_PASSWORD": "p", "SLUICE_AWS_KEY_ID": "AKIDEXAMPLE",
                           "SLUICE_AWS_SECRET": "s", "SLUICE_AWS_TOKEN": "t", "SLUICE_EXTERNAL_ID": "e"]
        for block in blocks {
            let at = "examples/sluice.yaml:\(block.line) (`\(block.keys[0]):` uncommented)"
            let file = dir.appendingPathComponent("sluice-\(block.line).yaml")
            try block.uncommented.write(to: file, atomically: true, encoding: .utf8)
            let recorder = KeyRecorder()
            let settings: RunSettings
            do {
                settings = try MappingReader.$keyRecorder.withValue(recorder) {
                    try RunSettings.load(configFile: file.path, environment: environment)
                }
            } catch {
                Issue.record("\(at): \(error)")
                continue
            }
            for key in block.keys {
                #expect(recorder.keys.contains(key) || settings.kafka[key] != nil, "\(at): nothing reads `\(key)`")
            }
        }
    }

    /// The run flags' intervals have keys of their own in the file, checked where they are.
    @Test func intervalSettingsInTheFileAreChecked() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("interval-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "progress_interval: soon\nfailure_warning_interval: 0s\nstate_partitions: 5000\ndrain_timeout: 30s\n"
            .write(to: dir.appendingPathComponent("s.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await SluiceCommand.run(["validate", "--config", "s.yaml", "--routes", Self.root.appendingPathComponent("routes").path,
                                                "--connectors", Self.root.appendingPathComponent("connectors").path], in: dir)
        #expect(status == 1)
        #expect(output.contains("s.yaml:1:20: 'progress_interval' must be a duration such as 500ms, 10s, 5m or 24h"), "\(output)")
        #expect(output.contains("s.yaml:2:27: 'failure_warning_interval' must be above 0"), "\(output)")
        #expect(output.contains("s.yaml:3:19:"), "\(output)")
        try "progress_interval: 0\nfailure_warning_interval: 1m\nstate_topic_prefix: team-a.\n"
            .write(to: dir.appendingPathComponent("ok.yaml"), atomically: true, encoding: .utf8)
        let (okStatus, okOutput) = try await SluiceCommand.run(["validate", "--config", "ok.yaml", "--routes", Self.root.appendingPathComponent("routes").path,
                                                "--connectors", Self.root.appendingPathComponent("connectors").path], in: dir)
        #expect(okStatus == 0, "\(okOutput)")
    }

    @Test func logSettingsInTheFileAreChecked() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("log-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "log_level: loud\nlog_format: xml\nlog_levle: info\n".write(to: dir.appendingPathComponent("s.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await SluiceCommand.run(["validate", "--config", "s.yaml", "--routes", Self.root.appendingPathComponent("routes").path,
                                                "--connectors", Self.root.appendingPathComponent("connectors").path], in: dir)
        #expect(status == 1)
        #expect(output.contains("s.yaml:1:12: 'log_level' must be one of: trace, debug, info, notice, warning, error, critical"), "\(output)")
        #expect(output.contains("s.yaml:2:13: 'log_format' must be text or json"), "\(output)")
        #expect(output.contains("s.yaml:3:1: unknown key 'log_levle' (did you mean 'log_level'?)"), "\(output)")
    }

    @Test func versionNamesTheCommitAndTheLoadedLibrdkafka() async throws {
        let (status, output) = try await SluiceCommand.run(["--version"], in: Self.root)
        #expect(status == 0)
        // The commit is checked against git itself, not against what the build wrote.
        let root = Self.root
        let head = try await offPool {
            let git = Process()
            git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            git.arguments = ["-C", root.path, "rev-parse", "--short=12", "HEAD"]
            let out = Pipe.closedOnExec()
            git.standardOutput = out
            try git.run()
            let head = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            git.waitUntilGone()
            return head
        }
        #expect(output.hasPrefix("sluice 0.1.0 (commit \(head)"), "\(output) vs \(head)")
        #expect(output.range(of: #"librdkafka \d+\.\d+\.\d+"#, options: .regularExpression) != nil, "\(output)")
    }

    /// What a newcomer reads beside the Markdown: every Markdown and YAML file under examples/
    /// (SOURCES.md, the playbooks, the run configuration).
    static func exampleFiles() throws -> [URL] {
        let examples = root.appendingPathComponent("examples")
        guard let walker = FileManager.default.enumerator(atPath: examples.path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".md") || $0.hasSuffix(".yaml") }.sorted()
            .map { examples.appendingPathComponent($0) }
    }

    @Test func noInternalPathsInTheDocumentation() throws {
        let examples = try Self.exampleFiles()
        #expect(examples.contains { $0.path.hasSuffix("examples/findings/SOURCES.md") })
        #expect(examples.contains { $0.path.hasSuffix("examples/playbooks/quarantine.yaml") })
        for doc in try Self.documents() + examples {
            let text = try String(contentsOf: doc, encoding: .utf8)
            for privatePath in ["/work/", "/tmp/bash_jobs", ".build/debug"] {
                #expect(!text.contains(privatePath), "\(doc.path) mentions \(privatePath)")
            }
        }
        // The examples explain themselves: a reader is never sent into the source code.
        for file in examples {
            #expect(!(try String(contentsOf: file, encoding: .utf8)).contains("Sources/"), "\(file.path) sends the reader into Sources/")
        }
    }

    /// Each `sluice …` command of a ```sh block names files that exist from the repository root
    /// (where the README has the reader run them): `--config sluice.yaml` with no such file fails.
    @Test func everyShellCommandNamesFilesThatExist() throws {
        let fileOptions: Set<String> = ["--config", "--event", "--events", "--routes", "--connectors", "--suite", "--pattern", "--patterns", "--input"]
        var checked = 0
        for doc in try Self.documents() {
            let lines = try String(contentsOf: doc, encoding: .utf8).components(separatedBy: "\n")
            var inShell = false
            var command = ""
            for (n, line) in lines.enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed == "```sh" || trimmed == "```bash" || trimmed == "```console" { inShell = true; continue }
                if trimmed.hasPrefix("```") { inShell = false; continue }
                guard inShell else { continue }
                command += trimmed.hasSuffix("\\") ? String(trimmed.dropLast()) + " " : trimmed
                if trimmed.hasSuffix("\\") { continue }
                defer { command = "" }
                let words = command.drop { $0 == "$" || $0 == " " }.split(separator: " ").map(String.init)
                guard words.first == "sluice" else { continue }
                for (i, word) in words.enumerated().dropFirst() where fileOptions.contains(word) && i + 1 < words.count {
                    let value = words[i + 1]
                    // Placeholders and values a reader makes first are not files of the checkout.
                    if value == "-" || value.contains("$") || value.contains("<") || value.hasPrefix("/") || value.hasPrefix("~") { continue }
                    #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(value).path),
                            "\(doc.lastPathComponent):\(n + 1): \(word) \(value) does not exist from the repository root")
                    checked += 1
                }
            }
        }
        #expect(checked > 0)
    }

    /// The offline `sluice` commands of the ```sh blocks (validate, test, test-pattern, backtest:
    /// nothing they need is outside the checkout), with where each is written. Comments and
    /// `[optional]` parts are dropped; a command with a placeholder (`<file>`, `$VAR`) or in a
    /// block marked `<!-- not run … -->` is not taken.
    static func offlineShellCommands() throws -> [(words: [String], at: String)] {
        let offline: Set<String> = ["validate", "test", "test-pattern", "backtest"]
        var out: [(words: [String], at: String)] = []
        for doc in try documents() {
            let lines = try String(contentsOf: doc, encoding: .utf8).components(separatedBy: "\n")
            var inShell = false
            var skipped = false
            var command = ""
            for (n, line) in lines.enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed == "```sh" || trimmed == "```bash" || trimmed == "```console" {
                    inShell = true
                    skipped = n > 0 && lines[n - 1].hasPrefix("<!-- not run")
                    continue
                }
                if trimmed.hasPrefix("```") { inShell = false; continue }
                guard inShell, !skipped else { continue }
                let code = trimmed.components(separatedBy: " #").first ?? trimmed
                command += code.hasSuffix("\\") ? String(code.dropLast()) + " " : code
                if code.hasSuffix("\\") { continue }
                defer { command = "" }
                var text = String(command.drop { $0 == "$" || $0 == " " })
                while let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") {
                    text.removeSubrange(open...close)
                }
                let words = text.split(separator: " ").map(String.init)
                guard words.first == "sluice", words.count > 1, offline.contains(words[1]),
                      !words.contains(where: { $0.contains("<") || $0.contains("$") || $0.contains("|") }) else { continue }
                out.append((Array(words.dropFirst()), "\(doc.lastPathComponent):\(n + 1)"))
            }
        }
        return out
    }

    /// Issue 11, point 9: the offline commands a newcomer copies from the docs work as written,
    /// from the repository root, where the README has the reader run them.
    @Test func everyOfflineShellCommandRunsAndExitsZero() async throws {
        let commands = try Self.offlineShellCommands()
        // The README's own walk-through is in there: validate, test, test-pattern and backtest.
        #expect(Set(commands.map { $0.words[0] }) == ["validate", "test", "test-pattern", "backtest"], "\(commands)")
        for (words, at) in commands {
            let (status, output) = try await SluiceCommand.run(words, in: Self.root)
            #expect(status == 0, "\(at): sluice \(words.joined(separator: " ")) exited \(status):\n\(output.suffix(2000))")
        }
    }

    /// The example playbooks validate as shipped, with the connectors and run configuration the
    /// docs run them with (docs/playbooks.md).
    @Test func theExamplePlaybooksValidate() async throws {
        let playbooks = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("examples/playbooks").path)
            .filter { $0.hasSuffix(".yaml") }
        #expect(!playbooks.isEmpty)
        let (status, output) = try await SluiceCommand.run(
            ["validate", "--routes", "examples/playbooks", "--connectors", "connectors/examples", "--config", "examples/sluice.yaml"], in: Self.root)
        #expect(status == 0, "\(output)")
        for playbook in playbooks {
            #expect(!output.contains(playbook + ":"), "examples/playbooks/\(playbook): \(output)")
        }
    }

    @Test func licenseIsApache2() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("LICENSE"), encoding: .utf8)
        #expect(text.contains("Apache License") && text.contains("Version 2.0, January 2004"))
    }
}
