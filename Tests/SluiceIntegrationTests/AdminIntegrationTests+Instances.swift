import Foundation
import SluiceTestSupport
import Testing

/// `GET /api/v1/status` names the group's instances (as the coordinator describes them: client
/// id, partitions, which one answers) and this instance's lag; `GET /api/v1/routes` has each
/// route's rate. Two instances of one group on Tansu, each with its own admin server.
extension AdminIntegrationTests {
    @Test func statusShowsTheGroupsInstancesLagAndRouteRates() async throws {
        try await withRunHarness { harness in
            let (broker, receiver, config) = try await harness.brokerAndWebhook(partitions: 2)
            let group = "instances-\(UUID().uuidString.prefix(6))"
            let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
            let clientIDs = ["sluice-it-a", "sluice-it-b"]
            let instances = try zip(ports, clientIDs).map { port, client in
                try harness.sluice(broker, group: group, config: config, extra: ["--admin-listen", "127.0.0.1:\(port)", "-X", "client.id=\(client)"])
            }
            // Both members, each with one of the two partitions, as both instances see them.
            func status(_ port: Int) async -> [String: Any]? {
                let reply = await LoopbackPort.fetch(port, "/api/v1/status") ?? ""
                guard let body = reply.range(of: "\r\n\r\n").map({ String(reply[$0.upperBound...]) }) else { return nil }
                return try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            }
            func settled(_ s: [String: Any]?) -> Bool {
                guard let members = s?["instances"] as? [[String: Any]], members.count == 2, s?["groupState"] as? String == "Stable" else { return false }
                // Tansu 0.6 describes members without their assignment: the answering one has its own.
                return members.filter { $0["this"] as? Bool == true }.allSatisfy { ($0["partitions"] as? [String])?.count == 1 }
            }
            var last: [[String: Any]?] = [nil, nil]
            for _ in 0..<1200 {
                last = []
                for port in ports { last.append(await status(port)) }
                if last.allSatisfy(settled) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(last.allSatisfy(settled), "\(last)\n\(instances.map(\.output))")
            // Between them, the two answering instances own both partitions.
            let partitions = Set(last.flatMap { ($0?["partitions"] as? [String]) ?? [] })
            #expect(partitions == ["findings/0", "findings/1"], "\(last)")
            for (i, s) in last.enumerated() {
                let members = (s?["instances"] as? [[String: Any]]) ?? []
                let memberClientIDs = Set(members.compactMap { $0["clientID"] as? String })
                #expect(memberClientIDs == Set(clientIDs), "\(members)")
                // Exactly one member is the instance answering, and it owns what its status says.
                let me = members.filter { $0["this"] as? Bool == true }
                #expect(me.count == 1 && me.first?["clientID"] as? String == clientIDs[i], "\(members)")
                #expect(me.first?["partitions"] as? [String] == s?["partitions"] as? [String], "\(String(describing: s))")
            }

            // Ten findings: every route counts them, and its rate over the last minute is above zero.
            let findings = try Findings.unique(10)
            try await Findings.publish(findings, to: "findings", broker: broker)
            try await receiver.waitForCount(10, timeout: 60)
            var rates: [Double] = []
            var lags: [Int] = []
            for _ in 0..<300 {
                rates = []
                lags = []
                for port in ports {
                    let reply = await LoopbackPort.fetch(port, "/api/v1/routes") ?? ""
                    let body = reply.range(of: "\r\n\r\n").map { String(reply[$0.upperBound...]) } ?? ""
                    let routes = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]]) ?? []
                    if let rate = routes.first?["matchedPerSecond"] as? Double { rates.append(rate) }
                }
                for port in ports { if let lag = await status(port)?["lag"] as? Int { lags.append(lag) } }
                if rates.count == 2, rates.reduce(0, +) > 0, lags == [0, 0] { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(rates.count == 2 && rates.reduce(0, +) > 0, "\(rates)")
            // Everything consumed: neither instance is behind the end of its partition.
            #expect(lags == [0, 0], "\(lags)")
        }
    }
}
