import Foundation
import Logging
import SluiceKafka
import Synchronization

/// The sample findings of examples/, for tests and benchmarks.
public enum Findings {
    /// The sample findings (examples/findings.ndjson), one per line.
    public static func examples() throws -> [String] {
        let text = try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/findings.ndjson"), encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }

    /// `count` findings with distinct finding ids `<sample id>-<n>`, so a receiver can tell loss
    /// from duplication.
    public static func unique(_ count: Int) throws -> [(id: String, bytes: [UInt8])] {
        let samples = try examples().map { line -> (String, String) in
            let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return ((json["detail"] as! [String: Any])["id"] as! String, line)
        }
        return (0..<count).map { n in
            let (id, line) = samples[n % samples.count]
            let newID = "\(id)-\(n)"
            return (newID, Array(line.replacingOccurrences(of: "\"id\":\"\(id)\"", with: "\"id\":\"\(newID)\"").utf8))
        }
    }

    /// Produces all of `findings` (keyed by id) and waits until the broker acknowledged each.
    public static func produce(_ findings: [(id: String, bytes: [UInt8])], to topic: String, broker: TansuBroker) throws {
        let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "5"]), logger: Logger(label: "test"))
        let failures = Atomic<Int>(0)
        for f in findings {
            try producer.produce(topic: topic, key: Array(f.id.utf8), value: f.bytes) { error in
                if error != nil { failures.add(1, ordering: .relaxed) }
            }
        }
        producer.close(timeoutMs: 30_000)
        guard failures.load(ordering: .relaxed) == 0 else { throw HarnessError("\(failures.load(ordering: .relaxed)) findings were not produced") }
    }
}

