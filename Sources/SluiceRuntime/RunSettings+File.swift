import Foundation
import SluiceActions
import SluiceAdmin
import SluiceCore
import SluiceFormats

extension RunSettings {
    /// Reads a `sluice.yaml` run configuration (see examples/sluice.yaml). Unknown keys are errors.
    ///
    /// ```yaml
    /// brokers: kafka-1:9092,kafka-2:9092
    /// topics: [guardduty.findings]  # or entries with a format (docs/formats.md §1):
    ///                            #   - {topic: falco.alerts, format: falco}   # auto (default), guardduty, asff, ocsf, falco
    /// group: sluice
    /// static_membership: true    # group.instance.id = the default per-instance id (ConsumerMembership)
    /// group_instance_id: sluice-0   # or this id (implies static membership)
    /// assignor: cooperative-sticky  # or range, roundrobin
    /// leave_group: true          # LeaveGroup on shutdown; false: dropped by session timeout (Tansu 0.6.0)
    /// group_stall_timeout: 135s  # rejoin when the group stays stuck rebalancing this long (default 3 session timeouts; 0s: never)
    /// dead_letter_topic: sluice.dead-letter
    /// routes: routes
    /// connectors: connectors
    /// watch: false               # reload when route/connector files change (needs admin:)
    /// max_in_flight: 2000        # records with unsettled work before fetching pauses
    /// drain_timeout: 30s         # on SIGTERM, time to finish before dead-lettering the rest
    /// progress_interval: 30s     # a one-line progress report this often; 0 for none
    /// failure_warning_interval: 10s  # a connector's failures are warned of at most this often
    /// state_topic_prefix: sluice.    # the state topics' names start with this
    /// state_partitions: 12       # partitions of the state topics when created (1–1024)
    /// max_message_bytes: 1048576
    /// max_depth: 64
    /// admin:                     # admin server: probes, /metrics, /api/v1, dashboard (see AdminSettings)
    ///   listen: 127.0.0.1:9464
    ///   tokens_file: /etc/sluice/admin-tokens
    /// metrics_listen: 127.0.0.1:9464   # alias of admin.listen
    /// log_level: info            # trace, debug, info, notice, warning, error, critical
    /// log_format: text           # text or json (one JSON object per line)
    /// kafka:                     # any librdkafka property, passed through
    ///   security.protocol: SASL_SSL
    /// actions:                   # playbooks: see ActionSettings (dry_run, topics, guards, aws, kubernetes)
    ///   dry_run: true
    /// ```
    public static func load(configFile path: String, environment: [String: String]) throws(Diagnostics) -> RunSettings {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Diagnostics([Diagnostic(path: path, message: "cannot read config file: \(error.localizedDescription)")])
        }
        let text = try YAMLNode.text(of: data, path: path)
        var s = RunSettings()
        guard let doc = try YAMLNode.load(path: path, text: text, environment: environment) else { return s }
        let r = MappingReader(doc, what: "the run configuration")
        s.brokers = r.string("brokers")
        if let topics = r.node("topics") {
            if topics.isSequence {
                for item in topics.items {
                    if let name = item.string { s.topics.append(name); continue }
                    guard let (name, format) = Self.readTopic(item, into: r) else { continue }
                    s.topics.append(name)
                    s.pipeline.formats[name] = format
                }
            } else if let one = topics.string { s.topics = [one] }
        }
        if let g = r.string("group") { s.group = g }
        if let v = r.bool("static_membership") { s.membership.staticMembership = v }
        if let v = r.string("group_instance_id") {
            if ConsumerMembership.isValidInstanceID(v) { s.membership.instanceID = v } else {
                r.report(r.node("group_instance_id")!.error("'group_instance_id' must be 1 to 249 letters, digits, '.', '_' or '-'"))
            }
        }
        if let v = r.string("assignor") {
            if ConsumerMembership.assignors.contains(v) { s.membership.assignor = v } else {
                r.report(r.node("assignor")!.error("'assignor' must be one of: \(ConsumerMembership.assignors.joined(separator: ", "))"))
            }
        }
        if let v = r.bool("leave_group") { s.membership.leaveGroupOnClose = v }
        if let d = r.duration("group_stall_timeout") { s.membership.stallTimeout = d }
        s.deadLetterTopic = r.string("dead_letter_topic")
        if let d = r.string("routes") { s.routesDirectory = d }
        if let d = r.string("connectors") { s.connectorsDirectory = d }
        if let v = r.bool("watch") { s.watchConfiguration = v }
        if let n = r.int("max_in_flight", min: 1) { s.pipeline.maxInFlight = n }
        if let d = r.duration("drain_timeout") { s.pipeline.drainTimeout = d }
        // The intervals of the command-line flags of the same names (a flag wins over the file).
        if r.node("progress_interval")?.string == "0" {
            s.progressInterval = .zero
        } else if let d = r.duration("progress_interval") {
            s.progressInterval = d
        }
        if let d = r.duration("failure_warning_interval") {
            if d > .zero { s.failureWarningInterval = d } else {
                r.report(r.at("failure_warning_interval").error("'failure_warning_interval' must be above 0"))
            }
        }
        if let v = r.string("state_topic_prefix") { s.stateTopicPrefix = v }
        if let n = r.int("state_partitions", min: 1, max: 1024) { s.statePartitions = Int32(n) }
        // At most 256 MiB: the matcher indexes simdjson's tape with 32-bit offsets.
        if let n = r.int("max_message_bytes", min: 64, max: 256 << 20) { s.pipeline.maxMessageBytes = n }
        // At most 1024 (simdjson's default): the parser allocates per level up front, and code
        // walking a finding recurses per level (`max_depth: 9223372036854775807` trapped in `run`).
        if let n = r.int("max_depth", min: 2, max: 1024) { s.pipeline.maxDepth = n }
        if let listen = r.string("metrics_listen") { s.admin = AdminSettings(listen: listen) }
        if let a = r.nested("admin", what: "admin") {
            var admin = s.admin ?? AdminSettings(listen: "127.0.0.1:9464")
            if let v = a.string("listen") { admin.listen = v }
            admin.tokensFile = a.string("tokens_file")
            if let v = a.int("max_body_bytes", min: 1024) { admin.maxBodyBytes = v }
            if let v = a.duration("request_timeout") { admin.requestTimeout = v }
            if let v = a.duration("idle_timeout") { admin.idleTimeout = v }
            if let v = a.int("max_connections", min: 4, max: 65_536) { admin.maxConnections = v }
            if let v = a.int("recent_findings", min: 1) { admin.recentFindings = min(v, 100_000) }
            if let t = a.nested("tls", what: "admin tls") {
                admin.tlsCertFile = t.string("cert_file", required: true)
                admin.tlsKeyFile = t.string("key_file", required: true)
            }
            s.admin = admin
        }
        if let level = r.string("log_level") {
            if RunSettings.logLevels.contains(level) { s.logLevel = level } else {
                r.report(r.at("log_level").error("'log_level' must be one of: \(RunSettings.logLevels.joined(separator: ", "))"))
            }
        }
        if let format = r.string("log_format") {
            switch format {
            case "text": s.logJSON = false
            case "json": s.logJSON = true
            default: r.report(r.at("log_format").error("'log_format' must be text or json"))
            }
        }
        if let props = r.stringMap("kafka") { for (k, v) in props { s.kafka[k] = v } }
        if let a = r.nested("actions", what: "actions") { s.actions = ActionSettings.read(a) }
        let problems = r.finish()
        if !problems.isEmpty { throw Diagnostics(problems) }
        return s
    }

    /// One `topics:` entry written as `{topic: NAME, format: FORMAT}`.
    private static func readTopic(_ item: YAMLNode, into parent: MappingReader) -> (String, InputFormat)? {
        guard item.isMapping else {
            parent.report(item.error("a topics entry is a topic name or {topic: NAME, format: FORMAT}"))
            return nil
        }
        let t = MappingReader(item, what: "a topics entry")
        let name = t.string("topic", required: true)
        var format = InputFormat.auto
        if let f = t.string("format") {
            if let known = InputFormat(rawValue: f) { format = known } else {
                t.report(t.node("format")!.error("'format' must be one of: \(InputFormat.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        for d in t.finish() { parent.report(d) }
        return name.map { ($0, format) }
    }
}
