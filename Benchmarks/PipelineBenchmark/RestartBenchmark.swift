import Foundation
import Logging
import SluiceKafka
import SluiceTestSupport

/// Restart to first delivery after `kill -9` (issue 13): an instance consumes and delivers; it is
/// killed with SIGKILL and started again at once with the same arguments; a marker finding is
/// produced right after the restart, and the time from the restart to the marker's arrival at
/// the receiver is measured. Without static membership the new member waits for the dead one's
/// session to time out and for a rebalance; with it, the broker hands the returning member its
/// partitions back at once (when the broker implements KIP-345).
func restartToFirstDelivery(staticMembership: Bool, sessionTimeoutMs: Int, runs: Int) throws -> [Double] {
    let broker = try TansuBroker()
    defer { broker.stop() }
    let topic = "restart-in"
    try broker.createTopics([topic, "bench-dlq"], partitions: 3)
    let receiver = try Nginx(logArrivals: true)
    defer { receiver.stop() }
    let config = try configDirectory(connector: "type: webhook\nurl: http://127.0.0.1:\(receiver.port)/hook\n")
    defer { try? FileManager.default.removeItem(at: config) }
    let group = "bench-restart-\(staticMembership ? "static" : "dynamic")"
    let extra = ["-X", "session.timeout.ms=\(sessionTimeoutMs)"] + (staticMembership ? ["--group-instance-id", "bench-restart-0"] : [])
    let producer = try KafkaProducer(config: broker.clientConfig(), logger: Logger(label: "bench"))
    defer { producer.close() }
    let sample = try Findings.unique(1)[0]
    var marker = 0
    /// Produces one finding to each partition (so whichever partitions the member gets, one is
    /// hit) and waits for the first to arrive; returns seconds from `since` to that arrival.
    func deliverMarker(since: Double, timeout: Double = 120) throws -> Double {
        marker += 1
        let ids = (0..<3).map { "restart-\(marker)-\($0)" }
        for (i, id) in ids.enumerated() {
            let body = String(decoding: sample.bytes, as: UTF8.self).replacingOccurrences(of: "\"id\":\"\(sample.id)\"", with: "\"id\":\"\(id)\"")
            try producer.produce(topic: topic, partition: Int32(i), key: Array(id.utf8), value: Array(body.utf8)) { _ in }
        }
        _ = producer.flush(timeoutMs: 10_000)
        let deadline = now() + timeout
        while now() < deadline {
            let arrivals = receiver.arrivals()
            if let t = ids.compactMap({ arrivals[$0] }).min() { return t / 1000 - since }
            usleep(5_000)
        }
        throw BenchFailure("no marker delivered within \(timeout) s of the restart (\(group))")
    }
    var process = try startSluice(broker: broker, topic: topic, group: group, config: config, extra: extra)
    _ = try deliverMarker(since: now(), timeout: 180)  // joined and delivering
    var out: [Double] = []
    for _ in 0..<runs {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let restarted = now()
        process = try startSluice(broker: broker, topic: topic, group: group, config: config, extra: extra)
        out.append(try deliverMarker(since: restarted))
    }
    ChildProcess.stop(process, grace: 30)
    return out
}
