import SluiceCore
@testable import SluiceGuardDuty
import Testing

/// `FindingSummary` against literal values: every connector's default payload is built from it,
/// so its answers are pinned here rather than recomputed by the tests that use it.
@Suite struct FindingSummaryTests {
    /// A GuardDuty finding in its EventBridge envelope, with `resource` and `service` given.
    static func event(severity: JSON = 5.0, resource: JSON, service: JSON = ["count": 3], partition: String = "aws",
                      region: String = "eu-west-1", type: String = "Recon:EC2/PortProbeUnprotectedPort") -> JSON {
        [
            "version": "0", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": "111122223333", "region": .string(region),
            "detail": [
                "schemaVersion": "2.0", "accountId": "111122223333", "region": .string(region), "partition": .string(partition),
                "id": "a1b2c3", "arn": "arn:aws:guardduty:eu-west-1:111122223333:detector/d/finding/a1b2c3",
                "type": .string(type), "title": "Unprotected port probed", "description": "Port 22 is being probed.",
                "severity": severity, "createdAt": "2026-01-02T03:04:05.000Z", "updatedAt": "2026-01-02T04:05:06.000Z",
                "resource": resource, "service": service,
            ],
        ]
    }

    static let instance: JSON = [
        "resourceType": "Instance",
        "instanceDetails": [
            "instanceId": "i-0abc123", "instanceType": "m5.large",
            "networkInterfaces": [["vpcId": "vpc-0def456", "subnetId": "subnet-1"]],
        ],
    ]

    @Test(arguments: [
        (0.0, "Low"), (1.0, "Low"), (3.9, "Low"), (4.0, "Medium"), (6.9, "Medium"), (7.0, "High"),
        (8.9, "High"), (9.0, "Critical"), (10.0, "Critical"),
    ])
    func severityBandEdges(severity: Double, label: String) throws {
        let s = try #require(FindingSummary(event: Self.event(severity: .number(severity), resource: Self.instance)))
        #expect(s.severityLabel.rawValue == label)
        #expect(s.severity == severity)
    }

    @Test func bandColoursAndOrder() {
        #expect(FindingSummary.SeverityLabel.low.colour == "2EB67D")
        #expect(FindingSummary.SeverityLabel.medium.colour == "ECB22E")
        #expect(FindingSummary.SeverityLabel.high.colour == "E8710A")
        #expect(FindingSummary.SeverityLabel.critical.colour == "E01E5A")
        #expect(FindingSummary.SeverityLabel.low < .medium && FindingSummary.SeverityLabel.high < .critical)
    }

    static let resourceCases: [(String, JSON, String, String)] = [
        ("Instance", JSON.object([]), "Instance unknown instance", "unknown instance"),
        ("EKSCluster", [
            "eksClusterDetails": ["name": "prod"],
            "kubernetesDetails": ["kubernetesWorkloadDetails": ["name": "api-7d9", "namespace": "payments", "type": "pods"]],
            "containerDetails": ["image": "nginx:1.25"],
        ], "EKS cluster prod, pods payments/api-7d9, image nginx:1.25", "prod/payments/api-7d9"),
        ("EKSCluster", ["eksClusterDetails": ["name": "prod"]], "EKS cluster prod", "prod"),
        ("ECSCluster", [
            "ecsClusterDetails": ["name": "batch", "taskDetails": ["arn": "arn:aws:ecs:eu-west-1:111122223333:task/batch/0f1e2d"]],
            "containerDetails": ["image": "worker:3"],
        ], "ECS cluster batch, task 0f1e2d, image worker:3", "arn:aws:ecs:eu-west-1:111122223333:task/batch/0f1e2d"),
        ("ECSCluster", ["ecsClusterDetails": ["name": "batch"]], "ECS cluster batch", "batch"),
        ("Container", ["containerDetails": ["id": "c0ffee", "name": "miner", "image": "xmrig:latest"]], "Container miner (xmrig:latest)", "c0ffee"),
        ("AccessKey", ["accessKeyDetails": ["accessKeyId": "ASIAEXAMPLE", "userName": "ci-bot", "userType": "IAMUser"]],
         "Access key ASIAEXAMPLE of IAMUser ci-bot", "ASIAEXAMPLE"),
        ("S3Bucket", ["s3BucketDetails": [["name": "logs-a"], ["name": "logs-b"]]], "S3 bucket logs-a, logs-b", "logs-a"),
        ("S3Bucket", JSON.object([]), "S3 bucket unknown", ""),
        ("Lambda", JSON.object([]), "Lambda", ""),
    ]

    @Test(arguments: resourceCases)
    func resourceSummaryPerType(type: String, details: JSON, summary: String, resourceID: String) throws {
        guard case .object(var fields) = details else { Issue.record("details must be an object"); return }
        fields.insert((key: "resourceType", value: .string(type)), at: 0)
        let s = try #require(FindingSummary(event: Self.event(resource: .object(fields))))
        #expect(s.resourceType == type)
        #expect(s.resourceSummary == summary)
        #expect(s.resourceID == resourceID)
    }

    @Test func instanceSummaryNamesTypeAndVPC() throws {
        let s = try #require(FindingSummary(event: Self.event(resource: Self.instance)))
        #expect(s.resourceSummary == "Instance i-0abc123 (m5.large) in vpc-0def456")
        #expect(s.resourceID == "i-0abc123")
    }

    @Test func fieldsFromTheFindingAndItsService() throws {
        let s = try #require(FindingSummary(event: Self.event(resource: Self.instance, service: [
            "count": 7, "eventFirstSeen": "2026-01-01T00:00:00.000Z", "eventLastSeen": "2026-01-02T00:00:00.000Z",
        ])))
        #expect(s.id == "a1b2c3")
        #expect(s.title == "Unprotected port probed")
        #expect(s.account == "111122223333")
        #expect(s.region == "eu-west-1")
        #expect(s.count == 7)
        #expect(s.firstSeen == "2026-01-01T00:00:00.000Z")
        #expect(s.lastSeen == "2026-01-02T00:00:00.000Z")
        #expect(s.isRuntime == false)
        #expect(s.process == nil)
    }

    @Test func countAndSeenTimesFallBackToTheFinding() throws {
        let s = try #require(FindingSummary(event: Self.event(resource: Self.instance, service: JSON.object([]))))
        #expect(s.count == 1)
        #expect(s.firstSeen == "2026-01-02T03:04:05.000Z")
        #expect(s.lastSeen == "2026-01-02T04:05:06.000Z")
    }

    @Test func runtimeFindingsCarryTheProcess() throws {
        let s = try #require(FindingSummary(event: Self.event(resource: Self.instance, service: [
            "featureName": "RuntimeMonitoring",
            "runtimeDetails": ["process": [
                "name": "xmrig", "executablePath": "/tmp/xmrig", "pid": 4242, "user": "root", "executableSha256": "ab12",
            ]],
        ], type: "CryptoCurrency:Runtime/BitcoinTool.B")))
        #expect(s.isRuntime)
        let p = try #require(s.process)
        #expect(p.name == "xmrig")
        #expect(p.executablePath == "/tmp/xmrig")
        #expect(p.pid == 4242)
        #expect(p.user == "root")
        #expect(p.sha256 == "ab12")
    }

    @Test(arguments: [
        ("aws", "eu-west-1", "https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=a1b2c3"),
        ("aws-us-gov", "us-gov-west-1", "https://us-gov-west-1.console.amazonaws-us-gov.com/guardduty/home?region=us-gov-west-1#/findings?macros=current&fId=a1b2c3"),
        ("aws-cn", "cn-north-1", "https://cn-north-1.console.amazonaws.cn/guardduty/home?region=cn-north-1#/findings?macros=current&fId=a1b2c3"),
    ])
    func consoleURLPerPartition(partition: String, region: String, url: String) throws {
        let s = try #require(FindingSummary(event: Self.event(resource: Self.instance, partition: partition, region: region)))
        #expect(s.consoleURL == url)
    }

    /// Region and id are finding text: neither may change the console link's host or query.
    @Test(arguments: [
        ("evil.example/x#", "a1b2c3", "https://console.aws.amazon.com/guardduty/home?region=#/findings?macros=current&fId=a1b2c3"),
        ("us-east-1", "x&macros=evil#y z", "https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=x%26macros%3Devil%23y%20z"),
        ("US-EAST-1", "a1", "https://console.aws.amazon.com/guardduty/home?region=#/findings?macros=current&fId=a1"),
    ])
    func consoleURLKeepsFindingTextInItsPlace(region: String, id: String, url: String) throws {
        guard case .object(var envelope) = Self.event(resource: Self.instance, region: region),
              let i = envelope.firstIndex(where: { $0.key == "detail" }), case .object(var detail) = envelope[i].value,
              let j = detail.firstIndex(where: { $0.key == "id" }) else { Issue.record("fixture shape"); return }
        detail[j].value = .string(id)
        envelope[i].value = .object(detail)
        let s = try #require(FindingSummary(event: .object(envelope)))
        #expect(s.consoleURL == url)
    }

    @Test func aBareFindingReadsTheSame() throws {
        guard case .object(let envelope) = Self.event(resource: Self.instance),
              let detail = envelope.first(where: { $0.key == "detail" })?.value else { Issue.record("no detail"); return }
        #expect(FindingSummary(event: detail) == FindingSummary(event: Self.event(resource: Self.instance)))
    }

    @Test func notAFindingIsNil() {
        #expect(FindingSummary(event: ["detail": ["type": "x"]]) == nil)            // no resource
        #expect(FindingSummary(event: ["detail": ["resource": JSON.object([])]]) == nil)   // no type
    }
}
