import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import SluiceConnectors

/// What the SIEM connectors say a finding is, per format (GuardDuty, ASFF, OCSF, Falco): the CEF
/// header and the RFC 5424 SD-ID as the real rsyslogd parses them, the HEC sourcetype and the
/// Elasticsearch index as their contract receivers store them. GuardDuty's are today's, byte for
/// byte; the others follow the finding. Expected values are written out from the sample files.
@Suite(.serialized) struct SIEMFormatTests {
    static let guardduty = "01-ec2-cryptominer.json"
    static let asff = "asff/02-inspector-ecr-critical-cve.json"
    static let ocsf = "ocsf/02-edr-detection-critical-1.1.json"
    static let falco = "falco/03-k8s-drop-and-execute-critical.json"

    /// The CEF lines rsyslogd received, whole.
    static let cefLines: [String: String] = [
        guardduty: #"CEF:0|Amazon|GuardDuty|2.0|CryptoCurrency:Runtime/BitcoinTool.B|Bitcoin-related IP address contacted by EC2 instance i-0a4f1c2b3d5e6f789.|8|externalId=8f52f18d300e0ed86a90afe715053ba9 cat=CryptoCurrency:Runtime/BitcoinTool.B msg=EC2 instance i-0a4f1c2b3d5e6f789 is communicating with 198.51.100.23, a cryptocurrency-mining IP address. cnt=14 rt=1747037677512 start=1747036931000 end=1747037387000 cs1Label=accountId cs1=111122223333 cs2Label=region cs2=us-east-1 cs3Label=resource cs3=Instance i-0a4f1c2b3d5e6f789 (m5.large) in vpc-0b1c2d3e4f5a6b7c8 cs4Label=resourceId cs4=i-0a4f1c2b3d5e6f789 cs5Label=findingArn cs5=arn:aws:guardduty:us-east-1:111122223333:detector/2cb4e6f8a0c1d3e5f7a9b1c3d5e7f9a1/finding/8f52f18d300e0ed86a90afe715053ba9 request=https://us-east-1.console.aws.amazon.com/guardduty/home?region\=us-east-1#/findings?macros\=current&fId\=8f52f18d300e0ed86a90afe715053ba9 sproc=xmrig filePath=/var/tmp/.x/xmrig spid=28417"#,
        asff: #"CEF:0|Amazon|Inspector||Software and Configuration Checks/Vulnerabilities/CVE|CVE-2024-3094 - xz-utils, liblzma5|9|externalId=arn:aws:inspector2:eu-west-1:444455556666:finding/3c1e5a7b9d2f4e6081a3c5e7f9b1d3e5 cat=Software and Configuration Checks/Vulnerabilities/CVE msg=Malicious code was discovered in the upstream tarballs of xz, starting with version 5.6.0. The liblzma build process extracts a prebuilt object file from a disguised test file, which modifies specific functions in the liblzma code. cnt=1 rt=1747823469000 start=1747823469000 end=1747823469000 cs1Label=accountId cs1=444455556666 cs2Label=region cs2=eu-west-1 cs3Label=resource cs3=AwsEcrContainerImage sha256:5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592 cs4Label=resourceId cs4=arn:aws:ecr:eu-west-1:444455556666:repository/report-worker/sha256:5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592 cs5Label=findingArn"#,
        ocsf: #"CEF:0|Example Security Inc.|Sentry EDR|7.4.2|Credential Access|Credential dumping tool executed|9|externalId=det-2025-05-30-000481 cat=Credential Access msg=The process /tmp/mimipenguin.sh read the memory of sshd (pid 812) and searched it for cleartext passwords. cnt=1 rt=1748606409871 start=1748606398004 end=1748606409871 cs1Label=accountId cs1=111122223333 cs2Label=region cs2=us-east-1 cs3Label=resource cs3=AWS::EC2::Instance payments-api-01 cs4Label=resourceId cs4=arn:aws:ec2:us-east-1:111122223333:instance/i-0a4f1c2b3d5e6f789 cs5Label=findingArn"#,
        falco: #"CEF:0|Falcosecurity|Falco||syscall|Drop and execute new binary in container|9|externalId=42086a0c71228bb726bd3799068793b6 cat=syscall msg=09:15:48.905127334: Critical Executing binary not part of base image | proc_exe\=/tmp/.x/kworkerd proc_sname\=sh gparent\=containerd-shim proc_exe_ino_ctime\=1748855747101928311 proc_exe_ino_mtime\=1748855747101928311 proc_exe_ino_ctime_duration_proc_start\=1803205023 proc_cwd\=/tmp/.x/ container_start_ts\=1748512034662800114 evt_type\=execve user\=www-data user_uid\=33 user_loginuid\=-1 process\=kworkerd proc_exepath\=/tmp/.x/kworkerd parent\=sh command\=kworkerd -o pool.miningpool.example:3333 terminal\=0 exe_flags\=EXE_WRITABLE|EXE_UPPER_LAYER container_id\=b41d07a2e9c3 container_name\=storefront container_image_repository\=444455556666.dkr.ecr.eu-west-1.amazonaws.com/storefront container_image_tag\=5.3.0 k8s_pod_name\=storefront-6c8f7d9b4-mq7tz k8s_ns_name\=shop cnt=1 rt=1748855748905 start=1748855748905 end=1748855748905 cs1Label=accountId cs2Label=region cs3Label=resource cs3=KubernetesPod storefront-6c8f7d9b4-mq7tz cs4Label=resourceId cs4=shop/storefront-6c8f7d9b4-mq7tz cs5Label=findingArn sproc=kworkerd filePath=/tmp/.x/kworkerd"#,
    ]

    /// The structured data's opening, up to the finding's type.
    static let sdOpenings: [String: String] = [
        guardduty: #"[guardduty@32473 finding_id="8f52f18d300e0ed86a90afe715053ba9" account="111122223333" region="us-east-1" type="CryptoCurrency:Runtime/BitcoinTool.B""#,
        asff: #"[asff@32473 finding_id="arn:aws:inspector2:eu-west-1:444455556666:finding/3c1e5a7b9d2f4e6081a3c5e7f9b1d3e5" account="444455556666" region="eu-west-1" type="Software and Configuration Checks/Vulnerabilities/CVE""#,
        ocsf: #"[ocsf@32473 finding_id="det-2025-05-30-000481" account="111122223333" region="us-east-1" type="Credential Access""#,
        falco: #"[falco@32473 finding_id=""#,
    ]

    static func syslogYAML(port: Int, extra: String) -> String {
        "name: siem-syslog\ntype: syslog\nhost: 127.0.0.1\nport: \(port)\nprotocol: tcp\nhostname: sluice-test\ntimeout: 60s\n\(extra)\n"
    }

    /// Sends the four samples to a real rsyslogd; the messages it parsed, by sample.
    func sendToRsyslog(extra: String) async throws -> [String: [String: String]] {
        let names = [Self.guardduty, Self.asff, Self.ocsf, Self.falco]
        var messages: [[String: String]] = []
        try await SyslogConnectorTests().withRsyslog { _, rsyslog, http, cleanup in
            let c = try SIEMFixtures.connector(Self.syslogYAML(port: rsyslog.tcpPort, extra: extra), http: http)
            cleanup.addOffPool { c.shutdown() }
            for name in names {
                #expect(await SIEMFixtures.attempt(c, try SIEMFixtures.decodedDelivery(name)) == .delivered, "\(name)")
            }
            // One connection, written in order: rsyslogd parses them in that order.
            messages = try await rsyslog.waitForMessages(names.count)
        }
        return Dictionary(uniqueKeysWithValues: zip(names, messages))
    }

    @Test func cefNamesEachFormatsVendorAndProduct() async throws {
        let got = try await sendToRsyslog(extra: "format: cef")
        for (name, line) in Self.cefLines {
            #expect(got[name]?["msg"] == line, "\(name): \(got[name]?["msg"] ?? "nothing")")
            #expect(got[name]?["sd"]?.hasPrefix(Self.sdOpenings[name]!) == true, "\(name): \(got[name]?["sd"] ?? "nothing")")
        }
    }

    @Test func aConfiguredSDIDIsKeptForEveryFormat() async throws {
        let got = try await sendToRsyslog(extra: "sd_id: findings@99999")
        #expect(got.count == 4)
        for (name, m) in got {
            #expect(m["sd"]?.hasPrefix("[findings@99999 finding_id=") == true, "\(name): \(m["sd"] ?? "")")
        }
    }

    @Test func hecSourcetypeFollowsTheFormatUnlessConfigured() async throws {
        let token = "8f1c2a7e-5b7d-4f5e-9c11-2f7a1d0e6b3c"
        let http = HTTPClient()
        defer { http.shutdown() }
        let batch = try [Self.guardduty, Self.asff, Self.ocsf, Self.falco].map { try SIEMFixtures.decodedDelivery($0) }
        for (extra, expected) in [("", ["aws:cloudwatch:guardduty", "aws:securityhub:finding", "ocsf", "falcosidekick"]),
                                  ("sourcetype: findings", ["findings", "findings", "findings", "findings"])] {
            let receiver = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": token])
            try await withCleanup { cleanup in
                cleanup.add { await receiver.stopAndWait() }
                let c = try SIEMFixtures.connector(SplunkHECConnectorTests.yaml(receiver.url, extra: extra), http: http, environment: ["HEC_TOKEN": token])
                #expect(try await SIEMFixtures.attempt(c, batch: batch) == Array(repeating: .delivered, count: 4))
                #expect(try receiver.violations() == [])
                let events = (try receiver.store() as? [String: Any])?["events"] as? [[String: Any]] ?? []
                let sourcetypes = events.map { $0["sourcetype"] as? String ?? "" }
                #expect(sourcetypes == expected)
                // The event is the finding as sent (here the OCSF one's message).
                #expect((events.count == 4 ? events[2]["event"] as? [String: Any] : nil)?["message"] as? String
                    == "Credential dumping tool executed on i-0a4f1c2b3d5e6f789")
            }
        }
    }

    @Test func elasticsearchIndexFollowsTheFormatUnlessConfigured() async throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let batch = try [Self.guardduty, Self.asff, Self.ocsf, Self.falco].map { try SIEMFixtures.decodedDelivery($0) }
        let ids = ["8f52f18d300e0ed86a90afe715053ba9", "arn:aws:inspector2:eu-west-1:444455556666:finding/3c1e5a7b9d2f4e6081a3c5e7f9b1d3e5",
                   "det-2025-05-30-000481", batch[3].findingID ?? "?"]
        for (extra, expected) in [("", ["guardduty-2025.05.12", "securityhub-2025.05.21", "ocsf-2025.05.30", "falco-2025.06.02"]),
                                  ("index: findings-%Y", ["findings-2025", "findings-2025", "findings-2025", "findings-2025"])] {
            let es = try await WebhookReceiver.start(vendor: "elasticsearch", options: ["username": "sluice", "password": "s3cret-pass"])
            try await withCleanup { cleanup in
                cleanup.add { await es.stopAndWait() }
                let c = try SIEMFixtures.connector(ElasticsearchConnectorTests.yaml(es.url, extra: "username: sluice\npassword: ${ES_PASSWORD}\n\(extra)"),
                                                   http: http, environment: ElasticsearchConnectorTests.env)
                #expect(try await SIEMFixtures.attempt(c, batch: batch) == Array(repeating: .delivered, count: 4))
                #expect(try es.violations() == [])
                let indices = (try es.store() as? [String: Any])?["indices"] as? [String: [String: Any]] ?? [:]
                for (index, id) in zip(expected, ids) {
                    let idsByIndex = indices.mapValues { Array($0.keys) }
                    #expect(indices[index]?[id] != nil, "\(id) in \(index): \(idsByIndex)")
                }
            }
        }
    }
}

/// `X-Sluice-Replay` on every HTTP connector that builds its request in SluiceConnectors' shared
/// places (ReplayMarking): one chat connector, splunk-hec and elasticsearch, live and replayed.
@Suite(.serialized) struct ReplayHeaderTests {
    static func replayed(_ d: Delivery, _ name: String?) -> Delivery {
        var d = d
        d.replay = name
        return d
    }

    @Test func chatRequestsCarryTheReplayNameAndLiveOnesDoNot() async throws {
        let receiver = try await WebhookReceiver.start(vendor: "mattermost", options: ["hook": MattermostConnectorTests.hook])
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let d = try ChatConnectorFixture.definition(MattermostConnectorTests.yaml(receiver))
            let c = try ChatConnectorFixture.connector(d)
            let delivery = ChatConnectorFixture.delivery(ChatConnectorFixture.samples[0].event, for: d)
            #expect(await ChatConnectorFixture.deliver(delivery, to: c) == .delivered)
            #expect(await ChatConnectorFixture.deliver(Self.replayed(delivery, "incident-42"), to: c) == .delivered)
            let records = try receiver.records()
            let replayHeaders = records.map { $0.header("X-Sluice-Replay") }
            #expect(replayHeaders == [nil, "incident-42"])
        }
    }

    @Test func batchesCarryItOnlyWhenAllOfTheBatchIsTheReplay() async throws {
        let token = "8f1c2a7e-5b7d-4f5e-9c11-2f7a1d0e6b3c"
        let http = HTTPClient()
        defer { http.shutdown() }
        let two = try SIEMFixtures.findings.prefix(2).map { try SIEMFixtures.delivery($0) }
        let batches = [two.map { Self.replayed($0, "r1") }, [Self.replayed(two[0], "r1"), two[1]], two]
        let hec = try await WebhookReceiver.start(vendor: "splunk_hec", options: ["token": token])
        try await withCleanup { cleanup in
            cleanup.add { await hec.stopAndWait() }
            let es = try await WebhookReceiver.start(vendor: "elasticsearch", options: ["username": "sluice", "password": "s3cret-pass"])
            cleanup.add { await es.stopAndWait() }
            let splunk = try SIEMFixtures.connector(SplunkHECConnectorTests.yaml(hec.url), http: http, environment: ["HEC_TOKEN": token])
            let elastic = try SIEMFixtures.connector(ElasticsearchConnectorTests.yaml(es.url), http: http, environment: ElasticsearchConnectorTests.env)
            for batch in batches {
                #expect(try await SIEMFixtures.attempt(splunk, batch: batch) == [.delivered, .delivered])
                #expect(try await SIEMFixtures.attempt(elastic, batch: batch) == [.delivered, .delivered])
            }
            let hecReplayHeaders = try hec.records().map { $0.header("X-Sluice-Replay") }
            #expect(hecReplayHeaders == ["r1", nil, nil])
            let esReplayHeaders = try es.records().map { $0.header("X-Sluice-Replay") }
            #expect(esReplayHeaders == ["r1", nil, nil])
        }
    }

    /// The ticketing connectors make several calls per attempt (search, create, comment): every
    /// one of a replayed delivery is marked, none of a live one. Neither vendor's contract module
    /// objects to the custom header.
    @Test func everyCallOfAReplayedTicketingDeliveryIsMarked() async throws {
        typealias F = TicketingFixtures
        let jira = try await JiraConnectorTests.cloudReceiver()
        try await withCleanup { cleanup in
            cleanup.add { await jira.stopAndWait() }
            let servicenow = try await ServiceNowConnectorTests.receiver()
            cleanup.add { await servicenow.stopAndWait() }
            let definitions = [try F.definition(JiraConnectorTests.cloudYAML(jira.port), environment: JiraConnectorTests.cloudEnv),
                               try F.definition(ServiceNowConnectorTests.yaml(servicenow.port), environment: ServiceNowConnectorTests.env)]
            let findings = try F.findings()
            for definition in definitions {
                let connector = try F.make(definition)
                // A replayed finding twice (search + create, then a comment or work note), then a live one.
                #expect(await F.deliver(connector, Self.replayed(F.delivery(findings[0], for: definition), "incident-42")) == .delivered)
                #expect(await F.deliver(connector, Self.replayed(F.delivery(findings[0], for: definition, count: 9), "incident-42")) == .delivered)
                #expect(await F.deliver(connector, F.delivery(findings[1], for: definition)) == .delivered)
            }
            for receiver in [jira, servicenow] {
                #expect(try receiver.violations() == [])
                let records = try receiver.records()
                let marked = records.filter { $0.header("X-Sluice-Replay") != nil }
                let calls = records.map { "\($0.method) \($0.path)" }
                #expect(marked.count >= 3, "\(calls)")
                let allMarked = marked.allSatisfy { $0.header("X-Sluice-Replay") == "incident-42" }
                #expect(allMarked)
                // The live delivery's calls come last and carry no marker.
                let restUnmarked = records.suffix(records.count - marked.count).allSatisfy { $0.header("X-Sluice-Replay") == nil }
                let callsWithMarks = records.map { "\($0.method) \($0.path) \($0.header("X-Sluice-Replay") ?? "-")" }
                #expect(records.count > marked.count && restUnmarked, "\(callsWithMarks)")
            }
        }
    }
}
