import ArgumentParser
import Foundation
import Logging
import SluiceKafka

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish findings (one JSON document per line) to a Kafka topic.",
        discussion: "For trying routes against a real topic: sluice publish --brokers localhost:9092 --topic guardduty.findings examples/findings.ndjson")

    @Option(name: .long, help: "Kafka bootstrap servers.") var brokers: String
    @Option(name: .long, help: "Topic to publish to.") var topic: String
    @Option(name: .customLong("create-topics"), help: "Create these topics first (comma-separated; existing ones are kept).") var createTopics: String?
    @Option(name: .long, help: "Partitions of created topics.") var partitions: Int32 = 1
    @Option(name: .customShort("X"), help: ArgumentHelp("librdkafka property key=value; repeatable.", valueName: "key=value")) var properties: [String] = []
    @Option(name: .customLong("repeat"), help: "Publish the input this many times.") var times: Int = 1
    @Argument(help: "NDJSON file, or - for stdin.") var input: String = "-"

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "sluice.publish")
        var config = KafkaConfig(["bootstrap.servers": brokers])
        for p in properties {
            guard let eq = p.firstIndex(of: "=") else { throw ValidationError("-X expects key=value, got '\(p)'") }
            config[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        if let createTopics {
            let names = createTopics.split(separator: ",").map(String.init)
            try KafkaAdmin.createTopics(names, partitions: partitions, config: config, logger: logger)
        }
        let data: Data
        if input == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else {
            guard let d = FileManager.default.contents(atPath: input) else { throw ValidationError("cannot read \(input)") }
            data = d
        }
        let lines = data.split(separator: UInt8(ascii: "\n")).filter { !$0.isEmpty }
        let producer = try KafkaProducer(config: config, logger: logger)
        let failures = FailureCount()
        for _ in 0..<max(1, times) {
            for line in lines {
                try producer.produce(topic: topic, value: Array(line)) { error in if error != nil { failures.add() } }
            }
        }
        producer.close(timeoutMs: 30_000)
        let sent = lines.count * max(1, times)
        if failures.value > 0 {
            FileHandle.standardError.write(Data("\(failures.value) of \(sent) records failed\n".utf8))
            throw ExitCode(1)
        }
        print("published \(sent) records to \(topic)")
    }
}

import Synchronization
final class FailureCount: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
