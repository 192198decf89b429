// sluice-bench (`make bench`): end-to-end throughput and latency of `sluice run`, each beside a
// baseline measured in the same run over the same topic:
//   1. raw consume rate of a plain librdkafka consumer (the ceiling);
//   2. Sluice → `kafka` connector, and its ratio to (1);
//   3. Sluice → `webhook` connector to nginx on loopback answering 204 (keep-alive);
//   4. produce → receipt latency (p50/p99) at a steady 1,000 findings/s to a webhook receiver;
//   5. state (SLUICE_BENCH_ONLY=state): the kafka leg with `dedupe` (repartition + changelog in
//      Kafka) beside the stateless one; the hold engine over 1,000,000 keys (rate, bytes per key);
//      restore of 1,000,000 changelog records from Tansu.
//   6. restart (SLUICE_BENCH_ONLY=restart): restart to first delivery after kill -9, with and
//      without static membership (group.instance.id), on a broker of its own.
// A benchmark, not a test: it prints figures and the targets beside them; it never fails on them.
import CRdKafka
import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceState
import SluiceTestSupport
import Synchronization

let environment = ProcessInfo.processInfo.environment
// 200,000: the raw consumer reads 100,000 in a third of a second, too short a window to be steady here.
let total = Int(environment["SLUICE_BENCH_FINDINGS"] ?? "") ?? 200_000
let partitions: Int32 = 3
let verbose = environment["SLUICE_BENCH_VERBOSE"] != nil
/// SLUICE_BENCH_ONLY=kafka,webhook,latency,state,restart runs just those phases (the baselines always run).
let phases = Set((environment["SLUICE_BENCH_ONLY"] ?? "kafka,webhook,latency,state,restart").split(separator: ",").map(String.init))
let sluiceBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice")

func now() -> Double { Date().timeIntervalSince1970 }
func fmt(_ v: Double) -> String {
    let f = NumberFormatter()
    f.numberStyle = .decimal
    f.maximumFractionDigits = 0
    return f.string(from: NSNumber(value: v)) ?? "\(Int(v))"
}
/// Unbuffered output: figures show as they are measured, also when piped.
func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
func line(_ label: String, _ value: String) { say(label.padding(toLength: 52, withPad: " ", startingAt: 0) + value) }
/// A NUL-terminated C buffer as text.
func text(_ buffer: [CChar]) -> String { String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
/// Why a measurement could not be made. A phase that throws it (or any error) is reported and
/// the bench goes on with the next phase: one broker hiccup must not cost the whole run.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs one phase; a failure prints its error and the bench goes on.
func phase(_ name: String, _ body: () throws -> Void) {
    do { try body() } catch {
        say("\(name.padding(toLength: 52, withPad: " ", startingAt: 0))FAILED: \(error) (going on with the next phase)")
    }
}

/// `body`, tried again (up to `attempts` times) when it throws: the test broker occasionally
/// answers an admin request late ("CreateTopics timed out") on a loaded machine.
func retrying<T>(_ attempts: Int = 3, _ body: () throws -> T) throws -> T {
    var last: any Error = BenchFailure("no attempt")
    for attempt in 1...attempts {
        do { return try body() } catch {
            last = error
            FileHandle.standardError.write(Data("sluice-bench: attempt \(attempt) of \(attempts) failed: \(error)\n".utf8))
        }
    }
    throw last
}

// MARK: librdkafka helpers (plain C API: the baseline must not pay for Sluice's wrappers)

func rdConf(_ props: [String: String]) throws -> OpaquePointer {
    let conf = rd_kafka_conf_new()!
    var err = [CChar](repeating: 0, count: 512)
    for (k, v) in props where rd_kafka_conf_set(conf, k, v, &err, err.count) != RD_KAFKA_CONF_OK {
        throw BenchFailure("librdkafka property \(k): \(text(err))")
    }
    return conf
}

/// Consumes `count` records of `topic` with a plain librdkafka consumer; returns the steady
/// rate (records/s between the 10% and 90% marks, as for every rate here: start-up and the
/// last stragglers of a sub-second run would otherwise decide the figure).
func rawConsumeRate(bootstrap: String, topic: String, count: Int) throws -> Double {
    let conf = try rdConf([
        "bootstrap.servers": bootstrap, "group.id": "raw-\(UUID().uuidString)", "auto.offset.reset": "earliest",
        "enable.auto.commit": "false", "session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
    ])
    var err = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &err, err.count) else { throw BenchFailure(text(err)) }
    defer { rd_kafka_consumer_close(rk); rd_kafka_destroy(rk) }
    rd_kafka_poll_set_consumer(rk)
    let list = rd_kafka_topic_partition_list_new(1)
    rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
    rd_kafka_subscribe(rk, list)
    rd_kafka_topic_partition_list_destroy(list)
    var n = 0
    let (low, high) = (count / 10, count - count / 10)
    var (lowAt, highAt) = (0.0, 0.0)
    let deadline = now() + 300
    while n < count, now() < deadline {
        guard let msg = rd_kafka_consumer_poll(rk, 100) else { continue }
        if msg.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            n += 1
            if n == low { lowAt = now() }
            if n == high { highAt = now() }
        }
        rd_kafka_message_destroy(msg)
    }
    guard n == count else { throw BenchFailure("raw consumer read \(n) of \(count)") }
    return Double(high - low) / (highAt - lowAt)
}

/// Counts the records arriving on `topic`, from a plain librdkafka consumer on its own thread
/// (a broker's watermark would do, but Tansu's ListOffsets answers 0 for the latest offset).
/// With `timed`, it also notes when each record's key arrived (ms since the epoch).
final class ArrivalCounter: @unchecked Sendable {
    // @unchecked: `count` is atomic, `arrivals` locked; the handle is touched by the counting thread only.
    let count = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let arrivals = Mutex<[String: Double]>([:])
    private var thread: Thread?

    init(bootstrap: String, topic: String, timed: Bool = false) throws {
        let conf = try rdConf([
            "bootstrap.servers": bootstrap, "group.id": "count-\(UUID().uuidString)", "auto.offset.reset": "earliest",
            "enable.auto.commit": "false", "session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "fetch.wait.max.ms": "10",
        ])
        var err = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &err, err.count) else { throw BenchFailure(text(err)) }
        rd_kafka_poll_set_consumer(rk)
        let list = rd_kafka_topic_partition_list_new(1)
        rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        rd_kafka_subscribe(rk, list)
        rd_kafka_topic_partition_list_destroy(list)
        let handle = UInt(bitPattern: rk)
        thread = Thread { [self] in
            let rk = OpaquePointer(bitPattern: handle)!
            while !stop.load(ordering: .relaxed) {
                guard let msg = rd_kafka_consumer_poll(rk, 100) else { continue }
                if msg.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    count.add(1, ordering: .relaxed)
                    if timed, let key = msg.pointee.key {
                        let id = String(decoding: UnsafeRawBufferPointer(start: key, count: msg.pointee.key_len), as: UTF8.self)
                        let at = now() * 1000
                        arrivals.withLock { $0[id] = at }
                    }
                }
                rd_kafka_message_destroy(msg)
            }
            rd_kafka_consumer_close(rk)
            rd_kafka_destroy(rk)
        }
        thread!.start()
    }

    func finish() {
        stop.store(true, ordering: .relaxed)
        while thread?.isFinished == false { usleep(10_000) }
    }
}

// MARK: Sluice and its configuration

/// A routes/ + connectors/ pair routing every finding to one connector instance.
func configDirectory(connector: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("routes"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("connectors"), withIntermediateDirectories: true)
    try "name: everything\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [out]\n"
        .write(to: dir.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
    try ("name: out\n" + connector).write(to: dir.appendingPathComponent("connectors/out.yaml"), atomically: true, encoding: .utf8)
    return dir
}

func startSluice(broker: TansuBroker, topic: String, group: String, config: URL, extra: [String] = []) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ChildProcess.unblockingSignals + [sluiceBinary.path, "run", "--brokers", broker.bootstrap, "--topic", topic,
        "--group", group, "--dead-letter-topic", "bench-dlq", "--routes", config.appendingPathComponent("routes").path,
        "--connectors", config.appendingPathComponent("connectors").path, "--log-level", "warning",
        "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"] + extra
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(group).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: log)
    p.standardError = p.standardOutput
    try p.run()
    return p
}

/// Polls `count()` every `everyMs` until it reaches `target`; returns the steady rate between the
/// 10% and 90% marks (interpolated between polls).
func measureRate(target: Int, timeout: Double = 300, everyMs: UInt32 = 5, _ count: () -> Int) throws -> Double {
    let base = count()
    let (low, high) = (Double(target / 10), Double(target - target / 10))
    var previous: (t: Double, c: Double) = (now(), 0)
    var (lowAt, highAt) = (0.0, 0.0)
    let deadline = now() + timeout
    var lastShown = 0.0
    while now() < deadline {
        let c = Double(count() - base)
        let t = now()
        if verbose, t - lastShown >= 0.1 { say("  t=\(String(format: "%.2f", t)) \(Int(c))"); lastShown = t }
        // The moment the count crossed a mark, interpolated between this poll and the last.
        func crossing(_ mark: Double) -> Double { previous.t + (t - previous.t) * (mark - previous.c) / max(1, c - previous.c) }
        if lowAt == 0, c >= low { lowAt = crossing(low) }
        if highAt == 0, c >= high { highAt = crossing(high) }
        if c >= Double(target) { return (high - low) / (highAt - lowAt) }
        previous = (t, c)
        usleep(everyMs * 1000)
    }
    throw BenchFailure("timed out at \(count() - base) of \(target)")
}

/// CPU seconds (user + system) a running process has used so far, from /proc/PID/stat: unlike a
/// rate, a loaded machine hardly moves it, so runs on a shared machine compare by it too.
func cpuSeconds(pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    // After "(comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The Tansu process serving `broker`: its CPU per finding is part of each leg's cost (the
/// broker shares the two cores with the router).
func brokerPid(_ broker: TansuBroker) -> Int32? {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
        let text = String(decoding: cmdline.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        if text.contains("tansu"), text.contains("--listener-url tcp://127.0.0.1:\(broker.port) ") { return pid }
    }
    return nil
}

/// Records and bytes (key + value) a topic holds, read back whole, untimed.
func topicVolume(_ broker: TansuBroker, topic: String) -> (records: Int, bytes: Int) {
    guard let reader = try? KafkaTopicReader(config: broker.clientConfig(), topic: topic, logger: Logger(label: "bench")) else { return (0, 0) }
    defer { reader.close() }
    var bytes = 0
    let records = (try? reader.readToEnd(timeoutMs: 30_000) { _, key, value in bytes += (key?.count ?? 0) + (value?.count ?? 0) }) ?? 0
    return (records, bytes)
}

/// "a.b µs" medians of per-run figures, with the runs.
func medianText(_ values: [Double]) -> String {
    guard !values.isEmpty else { return "n/a" }
    return String(format: "%.1f µs", values.sorted()[values.count / 2]) + " (median of \(values.count): " + values.map { String(format: "%.1f", $0) }.joined(separator: ", ") + ")"
}

/// The body of a GET on loopback, nil when nothing answered.
func httpGet(port: Int, path: String) -> String? {
    guard let all = LoopbackPort.get(port, path), let bodyStart = all.range(of: "\r\n\r\n") else { return nil }
    return String(all[bodyStart.upperBound...])
}

/// GETs of one path over one kept-alive loopback connection, as Prometheus scrapes: measured on
/// an idle router (2,000 requests, /proc CPU), a scrape on a new connection cost the admin server
/// about 0.5 ms of CPU and one on a kept connection about half that.
final class KeptAliveGet {
    let port: Int
    let path: String
    private var fd: Int32?
    init(port: Int, path: String) {
        self.port = port
        self.path = path
    }
    deinit { if let fd { close(fd) } }

    /// The body, nil when nothing answered (the connection is made anew next time).
    func body() -> String? {
        if fd == nil { fd = LoopbackPort.connect(port) }
        guard let fd else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count, let body = readResponse(fd) else {
            close(fd)
            self.fd = nil
            return nil
        }
        return body
    }

    /// One response: headers up to the blank line, then Content-Length bytes of body.
    private func readResponse(_ fd: Int32) -> String? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        var bodyStart: Int?
        var length: Int?
        while true {
            if let start = bodyStart, let length, data.count - start >= length {
                return String(decoding: data[start..<(start + length)], as: UTF8.self)
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            data += buffer[..<n]
            if bodyStart == nil, let end = data.indices.first(where: { data[$0...].starts(with: [13, 10, 13, 10]) }) {
                bodyStart = end + 4
                let head = String(decoding: data[..<end], as: UTF8.self).lowercased()
                guard let row = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                      let value = Int(row.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return nil }
                length = value
            }
        }
    }
}

/// Deliveries a running `sluice run` counts as done (its /metrics), summed over routes: for the
/// kafka connector, records the destination broker acknowledged.
func sluiceDeliveries(_ scrape: KeptAliveGet) -> Int {
    guard let text = scrape.body() else { return 0 }
    return text.split(separator: "\n").reduce(0) { sum, row in
        row.hasPrefix("sluice_deliveries_total{") ? sum + (Int(row.split(separator: " ").last ?? "") ?? 0) : sum
    }
}

// MARK: nginx answering 204 with keep-alive

final class Nginx {
    let port: Int
    let process: Process
    let dir: URL

    /// With `logArrivals`, nginx logs each request's completion time and finding id
    /// (`$msec $http_x_sluice_finding_id`) for latency measurement.
    init(logArrivals: Bool = false) throws {
        port = try LoopbackPort.free()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nginx-\(port)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let conf = """
            worker_processes 1;
            pid \(dir.path)/nginx.pid;
            error_log \(dir.path)/error.log warn;
            events { worker_connections 4096; }
            http {
                \(logArrivals ? "log_format arrivals '$msec $http_x_sluice_finding_id'; access_log \(dir.path)/arrivals.log arrivals;" : "access_log off;")
                client_body_temp_path \(dir.path);
                keepalive_requests 10000000;
                keepalive_timeout 120s;
                server {
                    listen 127.0.0.1:\(port);
                    location = /status { stub_status; }
                    location / { client_max_body_size 4m; return 204; }
                }
            }
            """
        try conf.write(to: dir.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ChildProcess.unblockingSignals + ["/usr/sbin/nginx", "-p", dir.path, "-c", dir.appendingPathComponent("nginx.conf").path, "-g", "daemon off;"]
        try process.run()
        guard LoopbackPort.waitUntilAccepting(port, timeout: 10) else { throw BenchFailure("nginx did not start") }
    }

    private var statusRequests = 0

    /// Requests nginx has answered (stub_status), the status requests excluded.
    func requests() -> Int {
        statusRequests += 1
        guard let text = httpGet(port: port, path: "/status") else { return 0 }
        // "Active connections: 1\nserver accepts handled requests\n 3 3 7\n..."
        let rows = text.split(separator: "\n")
        guard rows.count > 2 else { return 0 }
        return (Int(rows[2].split(separator: " ").last ?? "") ?? 0) - statusRequests
    }

    /// Finding id → arrival time (ms since the epoch), from the arrivals log.
    func arrivals() -> [String: Double] {
        let text = (try? String(contentsOf: dir.appendingPathComponent("arrivals.log"), encoding: .utf8)) ?? ""
        var out: [String: Double] = [:]
        for row in text.split(separator: "\n") {
            let parts = row.split(separator: " ")
            if parts.count == 2, let t = Double(parts[0]) { out[String(parts[1])] = t * 1000 }
        }
        return out
    }

    func stop() {
        ChildProcess.stop(process)
        try? FileManager.default.removeItem(at: dir)
    }
}

// MARK: The run

/// The set-up every phase needs; without it there is nothing to measure, so the bench reports
/// why and exits non-zero (never a trap on an uncaught error). Admin requests are retried.
var sharedBroker: TansuBroker?
@MainActor func essential<T>(_ what: String, retries: Bool = true, _ body: () throws -> T) -> T {
    do { return try retries ? retrying(3, body) : body() } catch {
        FileHandle.standardError.write(Data("sluice-bench: cannot \(what): \(error)\n".utf8))
        sharedBroker?.stop()
        exit(1)
    }
}
let broker = essential("start the Tansu broker") { try TansuBroker() }
sharedBroker = broker
defer { broker.stop() }
/// Rates on a shared 2-core machine swing by ±10% from one run to the next: the baseline and
/// the kafka leg are each measured this many times, and their medians compared.
let repeats = 3
essential("create the bench topics") { try broker.createTopics(["bench-in", "bench-dlq"] + (1...repeats).map { "bench-out-\($0)" }, partitions: partitions) }
let findings = essential("make the findings", retries: false) { try Findings.unique(total) }
let meanBytes = findings.reduce(0) { $0 + $1.bytes.count } / findings.count
let produceStart = now()
// Not retried: a second attempt would write the input twice.
essential("produce the input", retries: false) { try Findings.produce(findings, to: "bench-in", broker: broker) }
let rawProduce = Double(total) / (now() - produceStart)
say("sluice-bench: \(fmt(Double(total))) GuardDuty findings (EventBridge envelopes, \(meanBytes) bytes on average), local Tansu broker, \(partitions) partitions; release build")
say("")

/// The median of `runs` and the runs themselves, for printing.
func median(_ runs: [Double]) -> (value: Double, text: String) {
    (runs.sorted()[runs.count / 2], "median of \(runs.count): " + runs.map(fmt).joined(separator: ", "))
}
/// "N% of raw" when the baseline was measured.
@MainActor func ofRaw(_ rate: Double) -> String { raw.map { "\(Int((rate / $0 * 100).rounded()))% of raw" } ?? "baseline failed" }

// 1. Baseline: a plain librdkafka consumer.
var raw: Double?
phase("baseline  raw librdkafka consume") {
    let r = median(try (1...repeats).map { _ in try rawConsumeRate(bootstrap: broker.bootstrap, topic: "bench-in", count: total) })
    raw = r.value
    line("baseline  raw librdkafka consume", "\(fmt(r.value)) findings/s  (\(r.text))")
}
line("baseline  raw librdkafka produce (acked)", "\(fmt(rawProduce)) findings/s  (uncompressed, writing the input topic)")

/// The stateless kafka leg's median, for the state phase's ratio.
var statelessKafkaRate: Double?

if phases.contains("kafka") { phase("sluice    → kafka connector") {
    // 2. Sluice → kafka connector. Timed by the broker's acknowledgements as Sluice counts them
    // (its /metrics): a consumer reading the output while it is written would take CPU from the
    // broker and the router on these two cores. What arrived is checked afterwards, untimed.
    var kafkaCPU: [Double] = []
    var kafkaBrokerCPU: [Double] = []
    let kafkaRuns = try (1...repeats).map { run -> Double in
        let output = "bench-out-\(run)"
        let metricsPort = try LoopbackPort.free()
        let kafkaConfig = try configDirectory(connector: "type: kafka\ntopic: \(output)\n")
        defer { try? FileManager.default.removeItem(at: kafkaConfig) }
        let brokerBefore = brokerPid(broker).flatMap { cpuSeconds(pid: $0) }
        let toKafka = try startSluice(broker: broker, topic: "bench-in", group: "bench-kafka-\(run)", config: kafkaConfig,
                                      extra: ["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        // Every 25 ms, not 5, over one kept connection: a scrape of the admin server's /metrics
        // costs the router about 0.25 ms of CPU that way (0.5 ms on a new connection), so
        // scraping every 5 ms took a tenth of a core from the run it measured. The marks are
        // interpolated between polls either way.
        let rate = try measureRate(target: total, everyMs: 25) { [scrape = KeptAliveGet(port: metricsPort, path: "/metrics")] in sluiceDeliveries(scrape) }
        if let cpu = cpuSeconds(pid: toKafka.processIdentifier) { kafkaCPU.append(cpu / Double(total) * 1e6) }
        if let before = brokerBefore, let after = brokerPid(broker).flatMap({ cpuSeconds(pid: $0) }) { kafkaBrokerCPU.append((after - before) / Double(total) * 1e6) }
        ChildProcess.stop(toKafka, grace: 30)
        let arrivals = try ArrivalCounter(bootstrap: broker.bootstrap, topic: output)
        let arrivalDeadline = now() + 120
        while arrivals.count.load(ordering: .relaxed) < total, now() < arrivalDeadline { usleep(50_000) }
        arrivals.finish()
        let arrived = arrivals.count.load(ordering: .relaxed)
        guard arrived >= total else { throw BenchFailure("\(output) holds \(arrived) of \(total) records") }
        return rate
    }
    let kafka = median(kafkaRuns)
    statelessKafkaRate = kafka.value
    line("sluice    → kafka connector (broker-acked)", "\(fmt(kafka.value)) findings/s  (\(ofRaw(kafka.value)); target ≥ 50%; \(kafka.text); each run's topic read back whole)")
    if !kafkaCPU.isEmpty {
        // Start-up and the group join included: a little over the steady cost.
        line("sluice    router CPU per finding, kafka leg", String(format: "%.1f µs", kafkaCPU.sorted()[kafkaCPU.count / 2])
            + "  (user + system of the whole run / findings; median of \(kafkaCPU.count): " + kafkaCPU.map { String(format: "%.1f", $0) }.joined(separator: ", ") + ")")
        line("tansu     broker CPU per finding, kafka leg", medianText(kafkaBrokerCPU))
    }
} }

if phases.contains("webhook") { phase("sluice    → webhook") {
    // 3. Sluice → webhook (nginx, 204, keep-alive).
    let nginx = try Nginx()
    let webhookConfig = try configDirectory(connector: "type: webhook\nurl: http://127.0.0.1:\(nginx.port)/hook\nconcurrency: 64\n")
    let toWebhook = try startSluice(broker: broker, topic: "bench-in", group: "bench-webhook", config: webhookConfig)
    let webhookRate = try measureRate(target: total) { nginx.requests() }
    let webhookCPU = cpuSeconds(pid: toWebhook.processIdentifier).map { String(format: "; router CPU %.1f µs per finding", $0 / Double(total) * 1e6) } ?? ""
    ChildProcess.stop(toWebhook, grace: 30)
    nginx.stop()
    line("sluice    → webhook (nginx 204, keep-alive)", "\(fmt(webhookRate)) findings/s  (\(ofRaw(webhookRate)); target ≥ 10,000/s\(webhookCPU))")
    try? FileManager.default.removeItem(at: webhookConfig)
} }

/// Produces `findings` at a steady `rate` to a fresh broker's `latency-in` and returns each
/// one's latency (ms) from produce to arrival, as `arrivals()` reports arrivals by finding id.
/// `startReader` starts what reads the topic and returns how to see arrivals and how to stop.
func pacedLatency(_ findings: ArraySlice<(id: String, bytes: [UInt8])>, rate: Double,
                  startReader: (TansuBroker) throws -> (arrivals: () -> [String: Double], stop: () -> Void)) throws -> (latencies: [Double], achieved: Double) {
    // A broker of its own: Tansu keeps every record in memory, and a topic grown by earlier
    // runs slows its fetches down — the test broker's cost, not the reader's.
    let broker = try TansuBroker()
    defer { broker.stop() }
    try retrying { try broker.createTopics(["latency-in", "bench-dlq"], partitions: partitions) }
    let reader = try startReader(broker)
    defer { reader.stop() }
    let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "0"]), logger: Logger(label: "bench"))
    defer { producer.close() }
    // Warm up: wait until the group is joined and a finding gets through.
    let warm = try Findings.unique(1)[0]
    var warmedUp = false
    for _ in 0..<60 where !warmedUp {
        try producer.produce(topic: "latency-in", key: Array(warm.id.utf8), value: warm.bytes) { _ in }
        sleep(1)
        warmedUp = !reader.arrivals().isEmpty
    }
    guard warmedUp else { throw BenchFailure("latency run: nothing arrived") }
    var sentAt: [String: Double] = [:]
    let begin = now()
    for (i, f) in findings.enumerated() {
        let due = begin + Double(i) / rate
        let wait = due - now()
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        sentAt[f.id] = now() * 1000
        try producer.produce(topic: "latency-in", key: Array(f.id.utf8), value: f.bytes) { _ in }
    }
    let achieved = Double(findings.count) / (now() - begin)
    let deadline = now() + 60
    var arrivedAt = reader.arrivals()
    while arrivedAt.count < findings.count + 1, now() < deadline {
        usleep(100_000)
        arrivedAt = reader.arrivals()
    }
    let timed = sentAt.compactMap { id, t in arrivedAt[id].map { (sent: t - begin * 1000, latency: $0 - t) } }
    if verbose {
        // The slowest 1%, by when they were produced: stalls show as runs of neighbours.
        for s in timed.sorted(by: { $0.latency > $1.latency }).prefix(findings.count / 100).sorted(by: { $0.sent < $1.sent }) {
            say(String(format: "  slow: produced at +%.0f ms, %.1f ms", s.sent, s.latency))
        }
    }
    let latencies = timed.map(\.latency).sorted()
    return (latencies.isEmpty ? [.nan] : latencies, achieved)
}

func percentile(_ p: Double, of sorted: [Double]) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
/// "p50 …, p99 …, max …" of sorted latencies.
func spread(_ sorted: [Double]) -> String {
    String(format: "p50 %.1f ms, p99 %.1f ms, max %.1f ms", percentile(0.50, of: sorted), percentile(0.99, of: sorted), sorted.last!)
}

if phases.contains("latency") { phase("latency") {
    // 4. Latency at a steady 1,000 findings/s: first what a plain librdkafka consumer sees (the
    // broker's share), then produce → receipt at nginx through Sluice (nginx's access log holds
    // each request's completion time and finding id). Each on a fresh broker, same findings.
    // The shared broker stops first (Tansu keeps every record in memory) unless the state phase,
    // which reads its input topic, still follows.
    if !phases.contains("state") { broker.stop() }
    let rate = 1000.0
    let seconds = Double(environment["SLUICE_BENCH_LATENCY_SECONDS"] ?? "") ?? 10
    let paced = findings.prefix(Int(rate * seconds))
    let plain = try pacedLatency(paced, rate: rate) { broker in
        let consumer = try ArrivalCounter(bootstrap: broker.bootstrap, topic: "latency-in", timed: true)
        return ({ consumer.arrivals.withLock { $0 } }, { consumer.finish() })
    }
    line("baseline  produce → plain librdkafka consumer", spread(plain.latencies) + " (fetch.wait.max.ms=10, as Sluice's default)")
    // SLUICE_BENCH_LATENCY_ARGS: extra `sluice run` arguments for this phase (e.g. "-X fetch.wait.max.ms=1").
    let latencyArgs = (environment["SLUICE_BENCH_LATENCY_ARGS"] ?? "").split(separator: " ").map(String.init)
    let receiver = try Nginx(logArrivals: true)
    defer { receiver.stop() }
    let latencyConfig = try configDirectory(connector: "type: webhook\nurl: http://127.0.0.1:\(receiver.port)/hook\nconcurrency: 64\n")
    defer { try? FileManager.default.removeItem(at: latencyConfig) }
    let routed = try pacedLatency(paced, rate: rate) { broker in
        let sluice = try startSluice(broker: broker, topic: "latency-in", group: "bench-latency", config: latencyConfig, extra: latencyArgs)
        return ({ receiver.arrivals() }, { ChildProcess.stop(sluice, grace: 30) })
    }
    line("latency   produce → webhook receipt (own broker)", spread(routed.latencies)
        + String(format: " at %.0f findings/s (%d received; target p99 ≤ 25 ms)", routed.achieved, routed.latencies.count))
} }

// MARK: 5. State (issue 12)

/// Resident set size of this process, in bytes.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let row = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Int(row.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
    return kib * 1024
}

if phases.contains("state") {
    phase("sluice    → kafka connector with dedupe") {
        // a. The kafka leg again, with `dedupe` on every finding's id: each is a new key, so every
        // finding pays the repartition produce, the owner's decision and the changelog write.
        // As many runs as the stateless leg (a group and state topics of its own each): the
        // ratio is of the two medians. SLUICE_BENCH_STATE_ARGS: extra `sluice run` arguments.
        let stateArgs = (environment["SLUICE_BENCH_STATE_ARGS"] ?? "").split(separator: " ").map(String.init)
        var stateCPU: [Double] = []
        var stateBrokerCPU: [Double] = []
        var volumes: [String: [(records: Int, bytes: Int)]] = [:]
        let runs = try (1...repeats).map { run -> Double in
            let metricsPort = try LoopbackPort.free()
            let stateConfig = try configDirectory(connector: "type: kafka\ntopic: bench-out-state-\(run)\n")
            defer { try? FileManager.default.removeItem(at: stateConfig) }
            try "name: everything\nmatch: {\"source\": [\"aws.guardduty\"]}\ntargets: [out]\ndedupe: {key: [detail.id], window: 1h}\n"
                .write(to: stateConfig.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
            try retrying { try broker.createTopics(["bench-out-state-\(run)"], partitions: partitions) }
            let brokerBefore = brokerPid(broker).flatMap { cpuSeconds(pid: $0) }
            let withState = try startSluice(broker: broker, topic: "bench-in", group: "bench-state-\(run)", config: stateConfig,
                                            extra: ["--metrics-listen", "127.0.0.1:\(metricsPort)", "--state-partitions", "\(partitions)"] + stateArgs)
            defer { ChildProcess.stop(withState, grace: 30) }
            let rate = try measureRate(target: total, everyMs: 25) { [scrape = KeptAliveGet(port: metricsPort, path: "/metrics")] in sluiceDeliveries(scrape) }
            if let cpu = cpuSeconds(pid: withState.processIdentifier) { stateCPU.append(cpu / Double(total) * 1e6) }
            if let before = brokerBefore, let after = brokerPid(broker).flatMap({ cpuSeconds(pid: $0) }) { stateBrokerCPU.append((after - before) / Double(total) * 1e6) }
            // What the broker handled per finding, by topic (read back after the timed part).
            for (name, topic) in [("repartition", "sluice.hold.bench-state-\(run).repartition"), ("changelog", "sluice.hold.bench-state-\(run).changelog"),
                                  ("output", "bench-out-state-\(run)")] {
                let v = topicVolume(broker, topic: topic)
                volumes[name, default: []].append(v)
            }
            return rate
        }
        let state = median(runs)
        let ratio = statelessKafkaRate.map { " (\(Int((state.value / $0 * 100).rounded()))% of the stateless leg; goal ≥ 70%)" } ?? " (run the kafka phase too for the ratio)"
        line("sluice    → kafka, dedupe (state in Kafka)", "\(fmt(state.value)) findings/s\(ratio); \(state.text)")
        line("sluice    router CPU per finding, dedupe leg", medianText(stateCPU))
        line("tansu     broker CPU per finding, dedupe leg", medianText(stateBrokerCPU))
        let perFinding = ["repartition", "changelog", "output"].map { name -> String in
            let v = volumes[name]?.last ?? (0, 0)
            return "\(name) " + String(format: "%.2f records, %.0f B of key + value", Double(v.records) / Double(total), Double(v.bytes) / Double(total))
        }
        line("state     per finding on the broker, last run", perFinding.joined(separator: "; "))
    }

    // b. The hold engine alone over 1,000,000 distinct keys: decide, deliver, record. Changes
    // are taken every 1,000 keys and dropped, as the owner takes them per record to write them;
    // RSS grows by what the engine keeps.
    let keys = Int(environment["SLUICE_BENCH_STATE_KEYS"] ?? "") ?? 1_000_000
    let rules = HoldRules(dedupe: DedupeRule(key: ["detail.id"], window: .seconds(3600)))
    var engine = HoldEngine(rules: ["everything": rules])
    let before = residentBytes()
    let t0 = now()
    for i in 0..<keys {
        let item = HoldItem(route: "everything", target: "out", stateKey: "", dedupeKey: "everything\u{0}out\u{0}\"\(i)-8f52f18d300e0ed86a90afe715053ba9\"",
                            findingID: nil, title: "", severity: 5, seenAt: 1_000, payload: [])
        if case .deliver(let r) = engine.offer(item, now: 1_000), let t = r.ticket { _ = engine.settled(ticket: t, succeeded: true, now: 1_000) }
        if i % 1_000 == 999 { _ = engine.takeChanges() }
    }
    _ = engine.takeChanges()
    let engineRate = Double(keys) / (now() - t0)
    let perKey = Double(residentBytes() - before) / Double(keys)
    line("state     hold engine, \(fmt(Double(keys))) distinct keys", "\(fmt(engineRate)) decisions/s in one thread; \(fmt(perKey)) bytes of memory per key (goal ≤ 200; RSS growth with every key held)")

    phase("state     restore") {
        // c. Restore: the changelog of those keys on Tansu, read back and replayed the way the
        // owner does (KafkaHoldOwner.restore: its fetch settings, records decoded in place).
        try retrying { try broker.createTopics(["bench-changelog"], partitions: 1) }
        let changes = engine.allRecords()
        let producer = try KafkaProducer(config: broker.clientConfig(["linger.ms": "20"]), logger: Logger(label: "bench"))
        var bytes = 0
        for c in changes {
            let key = StateCodec.key(c), value = StateCodec.value(c)
            bytes += key.count + (value?.count ?? 0)
            try producer.produce(topic: "bench-changelog", partition: 0, key: key, value: value) { _ in }
        }
        producer.close(timeoutMs: 300_000)
        let r0 = now()
        let reader = try KafkaTopicReader(config: KafkaHoldOwner.restoreConfig(broker.clientConfig()), topic: "bench-changelog", logger: Logger(label: "bench"))
        var restored = HoldEngine(rules: ["everything": rules])
        var replayed = 0
        try reader.readToEnd(timeoutMs: 600_000) { _, key, value in
            guard let key, restored.restore(key: key, value: value) else { return }
            replayed += 1
        }
        reader.close()
        let seconds = now() - r0
        let held = restored.keyCounts.dedupe
        line("state     restore \(fmt(Double(replayed))) keys from Tansu", "\(String(format: "%.1f", seconds)) s (goal ≤ 10 s; \(fmt(Double(held))) keys held after); \(bytes / max(1, changes.count)) bytes per changelog record")
    }
}

// MARK: 6. Restart after kill -9 (issue 13)

if phases.contains("restart") { phase("restart") {
    let session = Int(environment["SLUICE_BENCH_SESSION_TIMEOUT_MS"] ?? "") ?? 10_000
    let runs = Int(environment["SLUICE_BENCH_RESTARTS"] ?? "") ?? 3
    for staticMembership in [false, true] {
        let seconds = try restartToFirstDelivery(staticMembership: staticMembership, sessionTimeoutMs: session, runs: runs)
        let m = median(seconds)
        let runsText = seconds.map { String(format: "%.1f", $0) }.joined(separator: ", ")
        line("restart   kill -9 → first delivery, \(staticMembership ? "static member" : "dynamic member")",
             String(format: "%.1f s", m.value) + "  (session.timeout.ms=\(session); median of \(seconds.count): \(runsText) s)")
    }
} }
