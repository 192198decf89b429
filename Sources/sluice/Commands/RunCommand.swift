import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import SluiceAdmin
import SluiceCore
import SluiceRuntime

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume findings from Kafka (or NDJSON) and deliver them as the routes say.",
        discussion: """
            Flags override the config file. Any librdkafka property can be set with -X (or under \
            kafka: in the config file), so SASL and TLS need no code:
              sluice run --brokers b1:9092 --topic guardduty.findings --group sluice \\
                --dead-letter-topic sluice.dead-letter -X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN

            Offline: sluice run --input findings.ndjson --dead-letter-file dead.ndjson  (or --input - for stdin)
            An offline run ends with its input. Every connector must be able to work in it: a kafka \
            connector without brokers: of its own needs --brokers, or the run stops before reading. \
            Dead letters go to --dead-letter-file (else stderr) as NDJSON: reason, route, connector, \
            attempts, error, line, original.

            At-least-once: a record's offset is committed only when every delivery it caused has \
            succeeded or been written to the dead-letter topic. SIGTERM/SIGINT stop fetching, \
            finish or dead-letter in-flight work within --drain-timeout, commit and exit 0.

            Exit status:
              0   the run ended; offline, nothing was dead-lettered or left undelivered
              1   the run could not start (configuration, a connector that cannot work, input) or failed
              2   offline only: something was dead-lettered or left undelivered (the summary says what)
              64  a flag is wrong
            """)

    @Option(name: .long, help: "Run configuration file (YAML).") var config: String?
    @Option(name: .long, help: "Kafka bootstrap servers (host:port,...).") var brokers: String?
    @Option(name: .long, help: "Topic to consume; repeat for several.") var topic: [String] = []
    @Option(name: .long, help: "Consumer group id (default: sluice).") var group: String?
    @Flag(name: .customLong("static-membership"), help: "Join the group as a static member (group.instance.id = sluice-<host>-<hash>): a restart within session.timeout.ms gets its partitions back without a rebalance.") var staticMembership = false
    @Option(name: .customLong("group-instance-id"), help: "Static member id (implies --static-membership); unique per live process.") var groupInstanceID: String?
    @Option(name: .long, help: "Partition assignor: cooperative-sticky (default), range or roundrobin.") var assignor: String?
    @Flag(name: .customLong("no-leave-group"), help: "On shutdown, do not send LeaveGroup: the group drops this member by session timeout (a workaround for coordinators that wedge on a leave during a rebalance, e.g. Tansu 0.6.0).") var noLeaveGroup = false
    @Option(name: .customLong("group-stall-timeout"), help: "Rejoin as a new member when the group stays stuck rebalancing this long, e.g. 2m (default: three session timeouts; 0s: never).") var groupStallTimeout: String?
    @Option(name: .customLong("dead-letter-topic"), help: "Topic for what cannot be delivered or decoded.") var deadLetterTopic: String?
    @Option(name: .long, help: "Directory of route files (default: routes).") var routes: String?
    @Option(name: .long, help: "Directory of connector instances (default: connectors).") var connectors: String?
    @Option(name: .customShort("X"), help: ArgumentHelp("librdkafka property key=value; repeatable.", valueName: "key=value")) var properties: [String] = []
    @Option(name: .long, help: "Read NDJSON findings from a file, or - for stdin, instead of Kafka.") var input: String?
    @Option(name: .customLong("dead-letter-file"), help: ArgumentHelp("Offline: write dead letters as NDJSON to this file instead of stderr.", valueName: "path")) var deadLetterFile: String?
    @Option(name: .customLong("max-in-flight"), help: "Records with unsettled work before fetching pauses (default: 2000).") var maxInFlight: Int?
    @Option(name: .customLong("drain-timeout"), help: "Time to finish in-flight work on shutdown, e.g. 30s.") var drainTimeout: String?
    @Option(name: .customLong("revocation-timeout"), help: "How long partitions taken away in a rebalance wait for their in-flight work before they go, e.g. 10s (default: --drain-timeout); 0s: no wait, their next owner repeats it.") var revocationTimeout: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (default: log_level in the config file, else info).") var logLevel: String?
    @Option(name: .customLong("admin-listen"), help: ArgumentHelp("Serve the admin server (probes, /metrics, /api/v1, dashboard) at this address.", valueName: "host:port")) var adminListen: String?
    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp("Alias of --admin-listen.", valueName: "host:port")) var metricsListen: String?
    @Option(name: .customLong("admin-tokens"), help: ArgumentHelp("Admin bearer tokens file: NAME ROLE TOKEN per line (also SLUICE_ADMIN_TOKENS).", valueName: "file")) var adminTokens: String?
    @Option(name: .customLong("state-topic-prefix"), help: "Prefix of the state topics (default: sluice.).") var stateTopicPrefix: String?
    @Option(name: .customLong("state-partitions"), help: "Partitions of the state topics when created (default: 12).") var statePartitions: Int32?
    @Option(name: .customLong("progress-interval"), help: "A one-line progress report this often, e.g. 30s (the default); 0 for none.") var progressInterval: String?
    @Option(name: .customLong("failure-warning-interval"), help: "Warn of a connector's failures (with the last cause) at most this often (default: 10s).") var failureWarningInterval: String?
    @Flag(name: .customLong("log-json"), help: "Write logs as JSON lines.") var logJSON = false
    @Flag(name: .long, help: "Print the delivery summary on exit: by route and target, then by route and by connector (delivered, suppressed, held, dead-lettered).") var summary = false
    @Option(name: .customLong("admin-tls-cert"), help: ArgumentHelp("Serve the admin server over HTTPS with this PEM certificate chain.", valueName: "file")) var adminTLSCert: String?
    @Option(name: .customLong("admin-tls-key"), help: ArgumentHelp("The PEM private key of --admin-tls-cert.", valueName: "file")) var adminTLSKey: String?
    @Flag(name: .long, help: "Reload when a route or connector file changes (as SIGHUP does); needs --admin-listen.") var watch = false
    @Flag(name: .customLong("dry-run-actions"), help: "Playbooks log and audit what they would do, and do nothing.") var dryRunActions = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var settings = RunSettings()
        if let config {
            do { settings = try RunSettings.load(configFile: config, environment: environment) } catch {
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
                throw ExitCode(1)
            }
        }
        // Flags win over the file's log_level / log_format.
        let levelName = logLevel ?? settings.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown log level \(levelName)") }
        LogSetup.bootstrap(level: level, json: logJSON || (settings.logJSON ?? false))
        let logger = Logger(label: "sluice")
        if let brokers { settings.brokers = brokers }
        if !topic.isEmpty { settings.topics = topic }
        if let group { settings.group = group }
        if staticMembership { settings.membership.staticMembership = true }
        if let groupInstanceID {
            guard ConsumerMembership.isValidInstanceID(groupInstanceID) else { throw ValidationError("--group-instance-id: use 1 to 249 letters, digits, '.', '_' or '-'") }
            settings.membership.instanceID = groupInstanceID
        }
        if let assignor {
            guard ConsumerMembership.assignors.contains(assignor) else { throw ValidationError("--assignor: one of \(ConsumerMembership.assignors.joined(separator: ", "))") }
            settings.membership.assignor = assignor
        }
        if noLeaveGroup { settings.membership.leaveGroupOnClose = false }
        if let groupStallTimeout {
            guard let d = DurationText.parse(groupStallTimeout) else { throw ValidationError("--group-stall-timeout: not a duration: \(groupStallTimeout)") }
            settings.membership.stallTimeout = d
        }
        if let deadLetterTopic { settings.deadLetterTopic = deadLetterTopic }
        if let routes { settings.routesDirectory = routes }
        if let connectors { settings.connectorsDirectory = connectors }
        if let input { settings.input = input }
        if let deadLetterFile {
            guard settings.input != nil else { throw ValidationError("--dead-letter-file is for offline runs: give --input too") }
            settings.deadLetterFile = deadLetterFile
        }
        if watch { settings.watchConfiguration = true }
        if dryRunActions { settings.actions.dryRun = true }
        if let maxInFlight {
            guard maxInFlight > 0 else { throw ValidationError("--max-in-flight must be positive") }
            settings.pipeline.maxInFlight = maxInFlight
        }
        if let stateTopicPrefix { settings.stateTopicPrefix = stateTopicPrefix }
        if let statePartitions {
            guard (1...1024).contains(statePartitions) else { throw ValidationError("--state-partitions must be 1 to 1024") }
            settings.statePartitions = statePartitions
        }
        if let listen = adminListen ?? metricsListen {
            var admin = settings.admin ?? AdminSettings(listen: listen)
            admin.listen = listen
            settings.admin = admin
        }
        if let adminTokens {
            guard settings.admin != nil else { throw ValidationError("--admin-tokens needs --admin-listen (or admin: in the config file)") }
            settings.admin?.tokensFile = adminTokens
        }
        if adminTLSCert != nil || adminTLSKey != nil {
            guard var admin = settings.admin else { throw ValidationError("--admin-tls-cert/--admin-tls-key need --admin-listen (or admin: in the config file)") }
            admin.tlsCertFile = adminTLSCert ?? admin.tlsCertFile
            admin.tlsKeyFile = adminTLSKey ?? admin.tlsKeyFile
            settings.admin = admin
        }
        if settings.watchConfiguration, settings.admin == nil {
            throw ValidationError("--watch (watch:) reloads through the admin server: add --admin-listen (or admin: in the config file)")
        }
        let exporter = MetricsExporter()
        if settings.admin != nil {
            // Whatever the process records through swift-metrics is served on /metrics.
            var factory = PrometheusMetricsFactory(registry: exporter.registry)
            factory.durationHistogramBuckets = Runner.histogramBuckets
            MetricsSystem.bootstrap(factory)
        }
        if let progressInterval {
            guard let d = progressInterval == "0" ? .zero : DurationText.parse(progressInterval) else {
                throw ValidationError("--progress-interval: not a duration: \(progressInterval)")
            }
            settings.progressInterval = d
        }
        if let failureWarningInterval {
            guard let d = DurationText.parse(failureWarningInterval), d > .zero else {
                throw ValidationError("--failure-warning-interval: not a positive duration: \(failureWarningInterval)")
            }
            settings.failureWarningInterval = d
        }
        if let drainTimeout {
            guard let d = DurationText.parse(drainTimeout) else { throw ValidationError("--drain-timeout: not a duration: \(drainTimeout)") }
            settings.pipeline.drainTimeout = d
        }
        if let revocationTimeout {
            guard let d = DurationText.parse(revocationTimeout) else { throw ValidationError("--revocation-timeout: not a duration: \(revocationTimeout)") }
            settings.pipeline.revocationTimeout = d
        }
        for p in properties {
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else { throw ValidationError("-X expects key=value, got '\(p)'") }
            settings.kafka[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }

        do {
            let stats = try await Runner(settings: settings, logger: logger, version: SluiceVersion.string, exporter: exporter).run(environment: environment)
            if summary { print(stats.summary()) }
            logger.info("stopped", metadata: [
                "sluice.consumed": "\(stats.consumedCount)", "sluice.delivered": "\(stats.deliveredCount)",
                "sluice.dead_lettered": "\(stats.deadLetteredCount)",
            ])
            // Consuming Kafka, a dead letter is an outcome written to its topic; offline, it is
            // the only trace of a finding that did not arrive, so CI must see it.
            if settings.input != nil, stats.deadLetteredCount > 0 || stats.unsettledCount > 0 {
                logger.error("offline run: findings were not delivered", metadata: [
                    "sluice.dead_lettered": "\(stats.deadLetteredCount)", "sluice.unsettled": "\(stats.unsettledCount)",
                    "sluice.dead_letter_file": "\(settings.deadLetterFile ?? "stderr")",
                ])
                throw ExitCode(2)
            }
        } catch let error as Diagnostics {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}
