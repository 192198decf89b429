import Foundation
import SluiceTestSupport
import Testing

/// `sluice run --watch`: an edited route file is reloaded without a signal; a broken one is
/// refused and the running configuration stays; the status API is the marker for each step.
@Suite(.serialized) struct WatchTests {
    /// The instance's status (read on a thread of its own).
    static func status(_ port: Int) async -> [String: Any] {
        let reply = await LoopbackPort.fetch(port, "/api/v1/status") ?? ""
        let body = reply.range(of: "\r\n\r\n").map { String(reply[$0.upperBound...]) } ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    static func waitFor(_ port: Int, timeout: Double = 60, _ condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        await eventually(within: .seconds(timeout)) { await status(port) } until: { condition($0) }
    }

    @Test func editedRouteFilesAreReloadedAndABrokenOneIsRefused() async throws {
        try await withRunHarness { harness in
            let (broker, _, config) = try await harness.brokerAndWebhook()
            let port = try LoopbackPort.free()
            let sluice = try harness.sluice(broker, group: "watch", config: config, extra: ["--admin-listen", "127.0.0.1:\(port)", "--watch"])
            let first = try await Self.waitFor(port) { $0["configVersion"] as? Int == 1 }
            #expect(first["configVersion"] as? Int == 1, "\(sluice.output.suffix(2000))")

            let route = URL(fileURLWithPath: config.routes).appendingPathComponent("all.yaml")
            try "name: all-findings\nmatch: {\"source\": [\"aws.guardduty\"], \"detail\": {\"severity\": [{\"numeric\": [\">=\", 4]}]}}\ntargets: [hook]\n"
                .write(to: route, atomically: true, encoding: .utf8)
            let reloaded = try await Self.waitFor(port) { $0["configVersion"] as? Int == 2 }
            #expect(reloaded["configVersion"] as? Int == 2 && reloaded["lastReloadSuccessful"] as? Bool == true, "\(reloaded)")
            #expect(reloaded["configHash"] as? String != first["configHash"] as? String)

            try "name: all-findings\nmatch: {\"source\": \"not-a-list\"}\ntargets: [hook]\n".write(to: route, atomically: true, encoding: .utf8)
            let refused = try await Self.waitFor(port) { $0["lastReloadSuccessful"] as? Bool == false }
            #expect(refused["lastReloadSuccessful"] as? Bool == false && refused["configVersion"] as? Int == 2, "\(refused)")
            #expect(sluice.output.contains("reload rejected"), "\(sluice.output.suffix(2000))")
            #expect(await sluice.terminateAndWait() == 0)
        }
    }

    /// A Kubernetes ConfigMap mounted as a directory is updated by the kubelet's atomic writer:
    /// the files are symlinks through `..data`, which is swapped to a new timestamped directory.
    /// No file the router opened changes in place; the content behind the names does, and that
    /// is what `--watch` compares. Then an edit in the connectors directory is reloaded too.
    @Test func aConfigMapStyleSymlinkSwapIsReloaded() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook()
            let fm = FileManager.default
            let routes = URL(fileURLWithPath: config.routes)
            func version(_ n: Int, route: String) throws {
                let dir = routes.appendingPathComponent("..2026_12_07_00_00_0\(n)")
                try fm.createDirectory(at: dir, withIntermediateDirectories: true)
                try route.write(to: dir.appendingPathComponent("all.yaml"), atomically: true, encoding: .utf8)
                try fm.createSymbolicLink(atPath: routes.appendingPathComponent("..data_tmp").path, withDestinationPath: dir.lastPathComponent)
                // rename(2) over the old link: the swap is one step, as the kubelet makes it.
                #expect(rename(routes.appendingPathComponent("..data_tmp").path, routes.appendingPathComponent("..data").path) == 0)
            }
            let original = try String(contentsOf: routes.appendingPathComponent("all.yaml"), encoding: .utf8)
            try fm.removeItem(at: routes.appendingPathComponent("all.yaml"))
            try version(1, route: original)
            try fm.createSymbolicLink(atPath: routes.appendingPathComponent("all.yaml").path, withDestinationPath: "..data/all.yaml")

            let port = try LoopbackPort.free()
            let sluice = try harness.sluice(broker, group: "watch-configmap", config: config, extra: ["--admin-listen", "127.0.0.1:\(port)", "--watch"])
            let first = try await Self.waitFor(port) { $0["configVersion"] as? Int == 1 }
            #expect(first["configVersion"] as? Int == 1, "\(sluice.output.suffix(2000))")

            try version(2, route: "name: all-findings\nmatch: {\"source\": [\"aws.guardduty\"], \"detail\": {\"severity\": [{\"numeric\": [\">=\", 4]}]}}\ntargets: [hook]\n")
            try fm.removeItem(at: routes.appendingPathComponent("..2026_12_07_00_00_01"))
            let swapped = try await Self.waitFor(port) { $0["configVersion"] as? Int == 2 }
            #expect(swapped["configVersion"] as? Int == 2 && swapped["lastReloadSuccessful"] as? Bool == true, "\(swapped) \(sluice.output.suffix(2000))")
            #expect(swapped["configHash"] as? String != first["configHash"] as? String)

            try "name: hook\ntype: webhook\nurl: \(receiver.url)/hook-v2\ntimeout: 30s\n"
                .write(to: URL(fileURLWithPath: config.connectors).appendingPathComponent("hook.yaml"), atomically: true, encoding: .utf8)
            let edited = try await Self.waitFor(port) { $0["configVersion"] as? Int == 3 }
            #expect(edited["configVersion"] as? Int == 3 && edited["lastReloadSuccessful"] as? Bool == true, "\(edited) \(sluice.output.suffix(2000))")
            #expect(await sluice.terminateAndWait() == 0)
        }
    }
}
