import Foundation
import Logging
import SluiceCore
import SluiceHTTP
import SluiceKafka
import SluiceTestSupport
import Synchronization
import Testing

@testable import SluiceConnectors

/// The `kafka` connector: its producer properties (pure), and every delivery acknowledged by a
/// real broker (Tansu) read back from the topic, with idempotence off (the default) and on.
@Suite struct KafkaConnectorTests {
    private func configuration(_ properties: [(String, String)] = [], brokers: String? = nil) -> KafkaConnector.Configuration {
        KafkaConnector.Configuration(topic: "archive", brokers: brokers, properties: properties)
    }

    @Test func producerDefaultsToZstdWithoutIdempotence() throws {
        let config = try KafkaConnector.producerConfig(name: "archive", configuration: configuration(),
                                                       run: KafkaConfig(["bootstrap.servers": "127.0.0.1:9"]))
        #expect(config["enable.idempotence"] == "false")
        #expect(config["compression.type"] == "zstd")
        #expect(config["bootstrap.servers"] == "127.0.0.1:9")
    }

    @Test func connectorPropertiesAndBrokersWinOverTheDefaults() throws {
        let config = try KafkaConnector.producerConfig(
            name: "archive", configuration: configuration([("enable.idempotence", "true"), ("compression.type", "lz4")], brokers: "10.0.0.1:9092"),
            run: KafkaConfig(["bootstrap.servers": "127.0.0.1:9"]))
        #expect(config["enable.idempotence"] == "true")
        #expect(config["compression.type"] == "lz4")
        #expect(config["bootstrap.servers"] == "10.0.0.1:9092")
    }

    @Test func noBrokersIsRefusedAtStart() {
        #expect(throws: KafkaError.self) {
            _ = try KafkaConnector.producerConfig(name: "archive", configuration: configuration(), run: KafkaConfig())
        }
    }

    @Test(arguments: ["false", "true"])
    func everyDeliveryIsAcknowledgedAndLandsInTheTopic(idempotence: String) async throws {
        let broker = try await TansuBroker.start()
        try await withCleanup { cleanup in
            cleanup.add { await broker.stopAndWait() }
            let topic = "archive-idempotence-\(idempotence)"
            try await broker.create(topics: [topic], partitions: 3)
            let http = HTTPClient()
            cleanup.addOffPool { http.shutdown() }
            let context = ConnectorContext(http: http, kafka: broker.clientConfig(), environment: [:], logger: Logger(label: "kafka-connector-test"))
            let connector = try KafkaConnector.make(
                name: "archive", configuration: KafkaConnector.Configuration(topic: topic, brokers: nil, properties: [("enable.idempotence", idempotence)]),
                context: context)
            cleanup.addOffPool { connector.shutdown() }

            let count = 300
            let outcomes = Mutex<[String]>([])
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                for i in 0..<count {
                    let id = "finding-\(i)"
                    let delivery = Delivery(payload: Array("{\"id\":\"\(id)\"}".utf8), key: Array(id.utf8), findingID: id, route: "all")
                    connector.deliver(delivery) { outcome in
                        let text: String
                        if case .delivered = outcome { text = "delivered" } else { text = "\(outcome)" }
                        let all = outcomes.withLock { o -> Int in
                            o.append(text)
                            return o.count
                        }
                        if all == count { done.resume() }
                    }
                }
            }
            let notDelivered = outcomes.withLock { $0.filter { $0 != "delivered" } }
            #expect(notDelivered == [])

            // Read back until every key is there; the deadline only bounds a failure.
            let reader = try KafkaTopicReader(config: broker.clientConfig(), topic: topic, logger: Logger(label: "kafka-connector-test"))
            cleanup.addOffPool { reader.close() }
            var keys: [String: String] = [:]
            let deadline = ContinuousClock.now + .seconds(60)
            while keys.count < count, ContinuousClock.now < deadline {
                guard let record = reader.poll(timeoutMs: 200), let key = record.key, let value = record.value else { continue }
                keys[String(decoding: key, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
            }
            #expect(keys.count == count)
            #expect(keys["finding-0"] == "{\"id\":\"finding-0\"}")
            #expect(keys["finding-299"] == "{\"id\":\"finding-299\"}")
        }
    }
}
