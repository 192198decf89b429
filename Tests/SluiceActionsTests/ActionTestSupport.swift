import Foundation
import Logging
import SluiceActions
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Synchronization

/// Shared pieces of the action tests: findings from examples/, contexts, runners.
enum ActionFixtures {
    static let http = HTTPClient()

    static func finding(_ name: String = "01-ec2-cryptominer.json") throws -> JSON {
        let url = PackagePaths.root.appendingPathComponent("examples/findings/\(name)")
        return try JSON.parse(String(contentsOf: url, encoding: .utf8))
    }

    static func findingBytes(_ name: String = "01-ec2-cryptominer.json") throws -> [UInt8] {
        Array(try Data(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/\(name)")))
    }

    /// Replaces every occurrence of `old` in the finding text (for pointing it at moto's ids).
    static func finding(_ name: String, replacing pairs: [String: String]) throws -> JSON {
        var text = try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings/\(name)"), encoding: .utf8)
        for (old, new) in pairs { text = text.replacingOccurrences(of: old, with: new) }
        return try JSON.parse(text)
    }

    /// Per AWS call to moto. moto is one Python process serving the whole suite one request at a
    /// time, started at the test run's niceness: beside a benchmark one call was seen to take more
    /// than the executors' 10 s default, and a step then failed with nothing wrong in the executor.
    static let motoCallTimeout: Duration = .seconds(120)

    static func context(_ settings: ActionSettings = ActionSettings(), environment: [String: String] = ProcessInfo.processInfo.environment) -> ActionContext {
        var context = ActionContext(http: http, environment: environment, settings: settings, logger: Logger(label: "test.actions"))
        context.aws = AWSClients(settings: settings.aws, http: http, environment: environment, timeout: motoCallTimeout)
        return context
    }

    /// Routes and playbooks from a route file's text; throws the diagnostics joined.
    static func playbooks(_ yaml: String, registry: [String: any ActionExecutor.Type] = ActionRegistry.byKind) throws -> [String: Playbook] {
        let routes = try RouteLoader.load(path: "routes/test.yaml", text: yaml, environment: [:])
        return try PlaybookLoader.load(routes: routes, registry: registry)
    }

    static func tempScript(_ body: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-action-\(UUID().uuidString.prefix(8)).sh").path
        // Written through a close-on-exec descriptor: a child forked meanwhile by another test
        // would otherwise hold the file open for writing, and running it fails with ETXTBSY.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        let bytes = Array(("#!/bin/sh\n" + body).utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw CocoaError(.fileWriteUnknown) }
        return path
    }
}

/// An executor that only records what it is asked, with the target's tags, account and namespace
/// taken from its parameters: for runner tests of guards, conditions and failure handling.
struct RecordingExecutor: ActionExecutor {
    static let kind = "test.record"
    static let summary = "records calls"
    static let isIsolation = true
    static let parameters = [
        ActionParameter("id", .string, required: true, help: "target id"),
        ActionParameter("tags", .map, help: "target tags"),
        ActionParameter("account", .string, help: "target account"),
        ActionParameter("fail", .string, help: "permanent | retryable"),
        ActionParameter("token", .string, secret: true, help: "a secret"),
        ActionParameter("delay_ms", .integer, help: "time the action takes"),
        ActionParameter("unchanged", .bool, help: "report nothing changed"),
    ]
    static let calls = Mutex<[String]>([])

    init(context: ActionContext) {}

    func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        ActionTarget(kind: "test", id: try request.parameters.requiredString("id"), account: request.parameters.string("account"),
                     tags: request.parameters.map("tags"))
    }

    func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        Self.calls.withLock { $0.append("\(request.runID)/\(request.step):\(target.id)") }
        if let ms = try request.parameters.int("delay_ms") { try? await Task.sleep(for: .milliseconds(ms)) }
        switch request.parameters.string("fail") {
        case "permanent": throw .permanent("told to fail")
        case "retryable": throw .retryable("told to fail, retryably")
        default: return ActionOutput(["id": .string(target.id), "value": "42"], changed: !(try request.parameters.bool("unchanged", default: false)))
        }
    }

    static var registry: [String: any ActionExecutor.Type] {
        var r = ActionRegistry.byKind
        r[kind] = RecordingExecutor.self
        return r
    }
}
