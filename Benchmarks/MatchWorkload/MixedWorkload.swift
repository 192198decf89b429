// Generated workloads for the matcher: GuardDuty-shaped findings of several kinds and route sets
// that mix the ten pattern shapes users write (issue 15). Shared by `make bench-match` and the
// differential test, so the benchmark's sets are the ones checked against the reference.
import SluiceCore

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same workload.
public struct SplitMix: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The values findings and routes draw from, so routes match some findings and miss others.
public enum MixedVocabulary {
    public static let accounts = (0..<400).map { String(210_000_000_000 + $0 * 6_700_417) }
    public static let regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1",
                                 "eu-north-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ca-central-1", "sa-east-1"]
    /// Finding types by the resource they concern.
    public static let instanceTypes = [
        "Recon:EC2/PortProbeUnprotectedPort", "Recon:EC2/Portscan", "UnauthorizedAccess:EC2/SSHBruteForce",
        "UnauthorizedAccess:EC2/RDPBruteForce", "UnauthorizedAccess:EC2/TorClient", "Backdoor:EC2/C&CActivity.B!DNS",
        "Backdoor:EC2/DenialOfService.Tcp", "Trojan:EC2/BlackholeTraffic", "Trojan:EC2/DNSDataExfiltration",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS", "CryptoCurrency:EC2/BitcoinTool.B", "Impact:EC2/PortSweep",
    ]
    public static let runtimeTypes = [
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS", "Execution:Runtime/NewBinaryExecuted", "Execution:Runtime/ReverseShell",
        "PrivilegeEscalation:Runtime/DockerSocketAccessed", "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory",
        "DefenseEvasion:Runtime/FilelessExecution", "Backdoor:Runtime/C&CActivity.B!DNS", "Impact:Runtime/CryptoMinerExecuted",
        "Discovery:Runtime/SuspiciousCommand", "Persistence:Runtime/SuspiciousCommand", "Execution:Runtime/MaliciousFileExecuted",
    ]
    public static let iamTypes = [
        "UnauthorizedAccess:IAMUser/TorIPCaller", "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "Recon:IAMUser/MaliciousIPCaller.Custom",
        "Discovery:IAMUser/AnomalousBehavior", "Persistence:IAMUser/AnomalousBehavior", "CredentialAccess:IAMUser/AnomalousBehavior",
        "Policy:IAMUser/RootCredentialUsage", "Stealth:IAMUser/CloudTrailLoggingDisabled",
    ]
    public static let s3Types = [
        "Policy:S3/BucketBlockPublicAccessDisabled", "Policy:S3/BucketAnonymousAccessGranted", "Discovery:S3/MaliciousIPCaller",
        "Exfiltration:S3/AnomalousBehavior", "Impact:S3/MaliciousIPCaller", "UnauthorizedAccess:S3/TorIPCaller",
    ]
    public static let kubernetesTypes = [
        "CredentialAccess:Kubernetes/MaliciousIPCaller", "Discovery:Kubernetes/SuccessfulAnonymousAccess",
        "PrivilegeEscalation:Kubernetes/PrivilegedContainer", "Persistence:Kubernetes/ContainerWithSensitiveMount",
        "Policy:Kubernetes/ExposedDashboard", "Execution:Kubernetes/ExecInKubeSystemPod",
    ]
    public static var allTypes: [String] { instanceTypes + runtimeTypes + iamTypes + s3Types + kubernetesTypes }
    public static let teams = (0..<120).map { "team\($0)" }
    public static let envs = ["prod", "staging", "dev", "test", "sandbox", "qa"]
    public static let tagKeys = ["env", "team", "owner", "cost-center", "Name", "app"]
    public static let processes = ["xmrig", "kworkerds", "bash", "sh", "python3", "curl", "wget", "nc", "java", "node", "nginx", "kubectl",
                                   "docker", "socat", "perl", "ruby", "containerd-shim", "sshd", "cron", "tmux"]
    public static let severities: [Double] = [1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 5.3, 6.0, 7.0, 7.5, 8.0, 8.3, 8.9]
    public static let protocols = ["TCP", "UDP", "tcp", "Tcp", "ICMP"]
    public static let roles = ["TARGET", "ACTOR"]
    public static let features = ["RuntimeMonitoring", "FlowLogs", "CloudTrail", "DnsLogs", "EksAuditLogs", "S3DataEvents"]
}

/// GuardDuty findings in EventBridge envelopes, about 1.8 KB, of several kinds: EC2 network and
/// port-probe findings (tags, several network interfaces and private IPs), EKS, ECS and EC2
/// runtime findings (process lineage), IAM API-call findings, S3 findings and EKS audit findings.
public struct MixedFindingGenerator {
    var g: SplitMix
    var n = 0

    public init(seed: UInt64) { g = SplitMix(seed: seed) }

    mutating func pick<T>(_ list: [T]) -> T { list[Int(g.next() % UInt64(list.count))] }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &g) }
    mutating func publicIP() -> String { "\(int(1...223)).\(int(0...255)).\(int(0...255)).\(int(1...254))" }
    mutating func privateIP() -> String {
        switch int(0...3) {
        case 0, 1: return "10.\(int(0...31)).\(int(0...255)).\(int(1...254))"
        case 2: return "172.\(int(16...31)).\(int(0...255)).\(int(1...254))"
        default: return "192.168.\(int(0...15)).\(int(1...254))"
        }
    }
    mutating func tags(_ team: String, _ env: String) -> String {
        var items = [#"{"key":"env","value":"\#(env)"}"#, #"{"key":"team","value":"\#(team)"}"#]
        if int(0...1) == 0 { items.append(#"{"key":"owner","value":"\#(pick(["alice", "bob", "carol", "dan", "erin"]))@example.com"}"#) }
        if int(0...2) == 0 { items.append(#"{"key":"cost-center","value":"cc-\#(int(100...140))"}"#) }
        if int(0...1) == 0 { items.insert(#"{"key":"Name","value":"\#(team)-\#(env)-\#(int(1...60))"}"#, at: 0) }
        var shuffled = items
        shuffled.shuffle(using: &g)
        return "[" + shuffled.joined(separator: ",") + "]"
    }
    mutating func hex(_ count: Int) -> String {
        var s = ""
        while s.count < count { s += String(g.next(), radix: 16) }
        return String(s.prefix(count))
    }

    public mutating func next() -> [UInt8] {
        n += 1
        let account = pick(MixedVocabulary.accounts)
        let region = pick(MixedVocabulary.regions)
        let team = pick(MixedVocabulary.teams)
        let env = pick(MixedVocabulary.envs)
        let severity = pick(MixedVocabulary.severities)
        let id = hex(32)
        let role = int(0...5) == 0 ? "ACTOR" : "TARGET"
        let process = pick(MixedVocabulary.processes)
        let runtimeProcess = #""runtimeDetails":{"process":{"name":"\#(process)","executablePath":"/usr/bin/\#(process)","executableSha256":"\#(hex(64))","pid":\#(int(1...65000)),"user":"\#(pick(["root", "app", "nobody"]))","userId":\#(pick([0, 1000, 65534])),"lineage":[{"name":"\#(pick(MixedVocabulary.processes))","pid":\#(int(1...65000))},{"name":"containerd-shim","pid":\#(int(1...500))}]}},"action":{"actionType":"DNS_REQUEST","dnsRequestAction":{"domain":"pool\#(int(0...30)).mining.example","protocol":"UDP","blocked":\#(int(0...3) == 0)}}"#
        let type: String
        let resource: String
        let action: String
        let feature: String
        switch int(0...9) {
        case 0, 1, 2:  // EC2 network finding, or a port probe (an array of probes)
            type = pick(MixedVocabulary.instanceTypes)
            resource = instance(team, env, region, account)
            feature = "FlowLogs"
            if type.hasPrefix("Recon:EC2/PortProbe") {
                let probes = (0..<int(1...3)).map { _ in #"{"localPortDetails":{"port":\#(pick([22, 80, 443, 3389, 5432])),"portName":"Unknown"},"remoteIpDetails":{"ipAddressV4":"\#(publicIP())","organization":{"asn":"\#(int(1000...65000))","asnOrg":"EXAMPLE-AS"}}}"# }
                action = #""action":{"actionType":"PORT_PROBE","portProbeAction":{"blocked":\#(int(0...3) == 0),"portProbeDetails":[\#(probes.joined(separator: ","))]}}"#
            } else {
                action = #""action":{"actionType":"NETWORK_CONNECTION","networkConnectionAction":{"connectionDirection":"\#(pick(["INBOUND", "OUTBOUND"]))","protocol":"\#(pick(MixedVocabulary.protocols))","blocked":\#(int(0...3) == 0),"localIpDetails":{"ipAddressV4":"\#(privateIP())"},"remoteIpDetails":{"ipAddressV4":"\#(publicIP())","country":{"countryName":"Example"},"organization":{"asn":"\#(int(1000...65000))","asnOrg":"EXAMPLE-AS","isp":"Example ISP","org":"Example Org"}},"remotePortDetails":{"port":\#(int(1024...65000))},"localPortDetails":{"port":\#(pick([22, 80, 443, 3389])),"portName":"SSH"}}}"#
            }
        case 3, 4:  // EKS runtime
            type = pick(MixedVocabulary.runtimeTypes)
            resource = eks(team, env, region, account)
            feature = "RuntimeMonitoring"
            action = runtimeProcess
        case 5:  // ECS runtime
            type = pick(MixedVocabulary.runtimeTypes)
            resource = #"{"resourceType":"ECSCluster","ecsClusterDetails":{"name":"\#(team)-\#(env)-ecs","arn":"arn:aws:ecs:\#(region):\#(account):cluster/\#(team)-\#(env)-ecs","status":"ACTIVE","tags":\#(tags(team, env)),"taskDetails":{"arn":"arn:aws:ecs:\#(region):\#(account):task/\#(hex(32))","definitionArn":"arn:aws:ecs:\#(region):\#(account):task-definition/\#(team)-svc:\#(int(1...40))","version":"\#(int(1...40))","containers":[{"name":"app","image":"\#(account).dkr.ecr.\#(region).amazonaws.com/\#(team)/app:1.\#(int(0...30))"},{"name":"sidecar","image":"public.ecr.aws/example/proxy:2"}]}}}"#
            feature = "RuntimeMonitoring"
            action = runtimeProcess
        case 6:  // EC2 runtime
            type = pick(MixedVocabulary.runtimeTypes)
            resource = instance(team, env, region, account)
            feature = "RuntimeMonitoring"
            action = runtimeProcess
        case 7:  // IAM API call
            type = pick(MixedVocabulary.iamTypes)
            resource = #"{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":"ASIA\#(hex(16).uppercased())","principalId":"AROA\#(hex(16).uppercased()):\#(team)","userName":"\#(team)-deployer","userType":"\#(pick(["AssumedRole", "IAMUser", "Root"]))"}}"#
            feature = "CloudTrail"
            action = #""action":{"actionType":"AWS_API_CALL","awsApiCallAction":{"api":"\#(pick(["GetSecretValue", "ListBuckets", "DescribeInstances", "StopLogging", "CreateUser"]))","serviceName":"\#(pick(["secretsmanager", "s3", "ec2", "cloudtrail", "iam"])).amazonaws.com","callerType":"Remote IP","remoteIpDetails":{"ipAddressV4":"\#(publicIP())","country":{"countryName":"Example"},"organization":{"asn":"\#(int(1000...65000))","asnOrg":"EXAMPLE-AS","isp":"Example ISP","org":"Example Org"}},"affectedResources":{}}}"#
        case 8:  // S3
            type = pick(MixedVocabulary.s3Types)
            resource = #"{"resourceType":"S3Bucket","accessKeyDetails":{"principalId":"AIDA\#(hex(16).uppercased())","userName":"\#(team)-etl","userType":"IAMUser"},"s3BucketDetails":[{"name":"\#(team)-\#(env)-data-\#(hex(6))","arn":"arn:aws:s3:::\#(team)-\#(env)-data","type":"Destination","tags":\#(tags(team, env)),"publicAccess":{"effectivePermission":"\#(pick(["PUBLIC", "NOT_PUBLIC"]))"}}]}"#
            feature = "S3DataEvents"
            action = #""action":{"actionType":"AWS_API_CALL","awsApiCallAction":{"api":"\#(pick(["GetObject", "PutBucketPublicAccessBlock", "ListObjects"]))","serviceName":"s3.amazonaws.com","callerType":"Remote IP","remoteIpDetails":{"ipAddressV4":"\#(publicIP())"}}}"#
        default:  // EKS audit log
            type = pick(MixedVocabulary.kubernetesTypes)
            resource = eks(team, env, region, account)
            feature = "EksAuditLogs"
            action = #""action":{"actionType":"KUBERNETES_API_CALL","kubernetesApiCallAction":{"requestUri":"/api/v1/namespaces/ns-\#(int(0...12))/pods","verb":"\#(pick(["create", "get", "list", "delete"]))","userAgent":"kubectl/v1.29","remoteIpDetails":{"ipAddressV4":"\#(publicIP())"},"statusCode":\#(pick([200, 201, 403]))}}"#
        }
        let time = "2025-0\(int(1...9))-\(int(10...28))T\(int(10...23)):\(int(10...59)):\(int(10...59))Z"
        let text = #"{"version":"0","id":"\#(id.prefix(8))-\#(id.prefix(12).suffix(4))-4\#(id.prefix(15).suffix(3))-8\#(id.suffix(3))-\#(id.suffix(12))","detail-type":"GuardDuty Finding","source":"aws.guardduty","account":"\#(account)","time":"\#(time)","region":"\#(region)","resources":[],"detail":{"schemaVersion":"2.0","accountId":"\#(account)","region":"\#(region)","partition":"aws","id":"\#(id)","arn":"arn:aws:guardduty:\#(region):\#(account):detector/\#(id.prefix(16))/finding/\#(id)","type":"\#(type)","resource":\#(resource),"service":{"serviceName":"guardduty","detectorId":"\#(id.prefix(16))","archived":\#(int(0...9) == 0),"count":\#(int(1...40)),"eventFirstSeen":"\#(time)","eventLastSeen":"\#(time)","resourceRole":"\#(role)","featureName":"\#(feature)",\#(action),"additionalInfo":{"value":"{}","type":"default"}},"severity":\#(severity),"createdAt":"\#(time)","updatedAt":"\#(time)","title":"\#(type) observed for \#(team) in \#(region).","description":"GuardDuty observed \#(type) on a resource of \#(team) (\#(env)). Investigate it."}}"#
        return Array(text.utf8)
    }

    mutating func instance(_ team: String, _ env: String, _ region: String, _ account: String) -> String {
        let interfaces = (0..<(int(0...3) == 0 ? 2 : 1)).map { _ -> String in
            let primary = privateIP()
            let secondary = int(0...2) == 0 ? #",{"privateDnsName":"ip-x.ec2.internal","privateIpAddress":"\#(privateIP())"}"# : ""
            return #"{"networkInterfaceId":"eni-0\#(hex(16))","privateDnsName":"ip-\#(primary.replacingDots()).ec2.internal","privateIpAddress":"\#(primary)","privateIpAddresses":[{"privateDnsName":"ip-\#(primary.replacingDots()).ec2.internal","privateIpAddress":"\#(primary)"}\#(secondary)],"publicIp":"\#(publicIP())","subnetId":"subnet-0\#(hex(16))","vpcId":"vpc-0\#(hex(16))","securityGroups":[{"groupId":"sg-0\#(hex(16))","groupName":"\#(team)-sg"}]}"#
        }
        return #"{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0\#(hex(16))","instanceType":"\#(pick(["m5.large", "t3.micro", "c6i.xlarge", "r5.2xlarge"]))","instanceState":"running","availabilityZone":"\#(region)a","imageId":"ami-0\#(hex(16))","launchTime":"2025-04-01T10:00:00.000Z","platform":null,"iamInstanceProfile":{"arn":"arn:aws:iam::\#(account):instance-profile/\#(team)-\#(env)","id":"AIPA\#(hex(16).uppercased())"},"tags":\#(tags(team, env)),"networkInterfaces":[\#(interfaces.joined(separator: ","))]}}"#
    }

    mutating func eks(_ team: String, _ env: String, _ region: String, _ account: String) -> String {
        #"{"resourceType":"EKSCluster","eksClusterDetails":{"name":"\#(team)-\#(env)-eks","arn":"arn:aws:eks:\#(region):\#(account):cluster/\#(team)-\#(env)-eks","vpcId":"vpc-0\#(hex(16))","status":"ACTIVE","tags":\#(tags(team, env))},"kubernetesDetails":{"kubernetesUserDetails":{"username":"system:serviceaccount:ns-\#(int(0...12)):default","groups":["system:serviceaccounts","system:authenticated"]},"kubernetesWorkloadDetails":{"name":"worker-\#(int(0...96))","type":"deployments","namespace":"ns-\#(int(0...12))","containers":[{"name":"app","image":"\#(account).dkr.ecr.\#(region).amazonaws.com/app:1.\#(int(0...30))","securityContext":{"privileged":\#(int(0...4) == 0)}}]}}}"#
    }
}

extension String {
    fileprivate func replacingDots() -> String { String(map { $0 == "." ? "-" : $0 }) }
}

/// The ten pattern shapes of issue 15.
public enum RouteShape: Int, CaseIterable, Sendable {
    case accounts, typeSeverity, prefixAccount, clusterWildcard, tagAnythingBut, privateCIDR, processRange,
         suffixRegionAccount, ignoreCaseBoolRole, severityOrTypeAccount
}

/// Route sets mixing the ten shapes in given proportions.
public struct MixedRouteGenerator {
    /// Named proportions (weights per shape, in `RouteShape` order).
    public static let mixes: [(name: String, weights: [Int])] = [
        ("even", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        ("account-heavy", [4, 2, 3, 1, 1, 1, 1, 3, 1, 3]),
        ("runtime-heavy", [1, 2, 1, 3, 2, 2, 4, 1, 2, 1]),
    ]

    var g: SplitMix
    let weights: [Int]

    public init(seed: UInt64, weights: [Int]) {
        precondition(weights.count == RouteShape.allCases.count && weights.contains { $0 > 0 })
        g = SplitMix(seed: seed)
        self.weights = weights
    }

    mutating func pick<T>(_ list: [T]) -> T { list[Int(g.next() % UInt64(list.count))] }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &g) }

    mutating func shape() -> RouteShape {
        var k = int(0...(weights.reduce(0, +) - 1))
        for (i, w) in weights.enumerated() {
            if k < w { return RouteShape.allCases[i] }
            k -= w
        }
        return .accounts
    }

    public mutating func routes(_ count: Int) -> [Route] {
        (0..<count).map { i in
            let shape = shape()
            // Some routes carry a suppression, as real ones do (archived findings, one team's sandbox).
            var suppress: [JSON] = []
            switch int(0...19) {
            case 0: suppress = [["detail": ["service": ["archived": [true]]]]]
            case 1: suppress = [["detail": ["resource": ["instanceDetails": ["tags": ["key": ["env"], "value": ["sandbox"]]]]]]]
            default: break
            }
            return Route(name: "\(shape)-\(i)", match: pattern(shape), suppress: suppress, targets: [RouteTarget(connector: "sink")])
        }
    }

    public mutating func pattern(_ shape: RouteShape) -> JSON {
        let account = JSON.string(pick(MixedVocabulary.accounts))
        switch shape {
        case .accounts:
            return ["account": .array((0..<int(1...3)).map { _ in .string(pick(MixedVocabulary.accounts)) })]
        case .typeSeverity:
            let severity: JSON = int(0...2) == 0
                ? ["numeric": [">", .number(Double(int(1...5))), "<=", .number(Double(int(6...9)))]]
                : ["numeric": [">=", .number(Double(int(2...8)) + (int(0...1) == 0 ? 0 : 0.5))]]
            return ["source": ["aws.guardduty"], "detail": ["type": [.string(pick(MixedVocabulary.allTypes))], "severity": [severity]]]
        case .prefixAccount:
            let type = pick(MixedVocabulary.allTypes)
            let prefix = int(0...1) == 0 ? String(type.prefix { $0 != ":" }) + ":" : String(type.prefix { $0 != "/" }) + "/"
            return ["account": [account], "detail": ["type": [["prefix": .string(prefix)]]]]
        case .clusterWildcard:
            let team = pick(MixedVocabulary.teams)
            let env = pick(MixedVocabulary.envs)
            let wildcard = [team + "-*", "*-" + env + "-eks", team + "-" + env + "-*", "*" + team + "-*-eks", "team1*-" + env + "-*"][int(0...4)]
            return ["detail": ["resource": ["eksClusterDetails": ["name": [["wildcard": .string(wildcard)]]]]]]
        case .tagAnythingBut:
            let key = pick(["env", "team", "owner"])
            let excluded: [JSON] = key == "env"
                ? Array(MixedVocabulary.envs.shuffled(using: &g).prefix(int(1...4))).map { .string($0) }
                : (0..<int(1...3)).map { _ in .string(key == "team" ? pick(MixedVocabulary.teams) : pick(["alice", "bob", "carol"]) + "@example.com") }
            let tags: JSON = ["key": [.string(key)], "value": [["anything-but": .array(excluded)]]]
            var p: JSON = ["detail": ["resource": ["instanceDetails": ["tags": tags]]]]
            if int(0...1) == 0 { p = ["account": [account], "detail": ["resource": ["instanceDetails": ["tags": tags]]]] }
            return p
        case .privateCIDR:
            let cidr: String
            switch int(0...3) {
            case 0: cidr = "10.\(int(0...31)).0.0/16"
            case 1: cidr = "10.\(int(0...31)).\(int(0...255)).0/24"
            case 2: cidr = "172.\(int(16...31)).0.0/16"
            default: cidr = "192.168.\(int(0...15)).0/24"
            }
            return ["detail": ["resource": ["instanceDetails": ["networkInterfaces": ["privateIpAddress": [["cidr": .string(cidr)]]]]]]]
        case .processRange:
            let low = int(0...60) * 1000
            let range: JSON = int(0...2) == 0 ? ["numeric": ["<", .number(Double(low + 5000))]] : ["numeric": [">=", .number(Double(low)), "<", .number(Double(low + int(2...20) * 1000))]]
            return ["detail": ["service": ["runtimeDetails": ["process": ["name": [.string(pick(MixedVocabulary.processes))], "pid": [range]]]]]]
        case .suffixRegionAccount:
            let suffix = pick(["!DNS", "/TorIPCaller", "BruteForce", ".B", "/AnomalousBehavior", "MaliciousIPCaller", "Executed"])
            return ["account": [account], "region": [.string(pick(MixedVocabulary.regions))], "detail": ["type": [["suffix": .string(suffix)]]]]
        case .ignoreCaseBoolRole:
            let role = JSON.string(pick(MixedVocabulary.roles))
            switch int(0...2) {
            case 0:
                return ["detail": ["service": ["resourceRole": [role], "action": ["networkConnectionAction": [
                    "protocol": [["equals-ignore-case": .string(pick(["tcp", "udp"]))]], "blocked": [.bool(int(0...1) == 0)]]]]]]
            case 1:
                return ["detail": ["service": ["resourceRole": [role], "archived": [false],
                                               "featureName": [["equals-ignore-case": .string(pick(MixedVocabulary.features).uppercased())]]]]]
            default:
                return ["detail": ["resource": ["eksClusterDetails": ["status": [["equals-ignore-case": "active"]]],
                                                "kubernetesDetails": ["kubernetesWorkloadDetails": ["containers": ["securityContext": ["privileged": [true]]]]]],
                                   "service": ["resourceRole": [role]]]]
            }
        case .severityOrTypeAccount:
            return ["account": [account], "$or": [
                ["detail": ["severity": [["numeric": [">=", .number(Double(int(5...8)))]]]]],
                ["detail": ["type": [.string(pick(MixedVocabulary.allTypes))]]],
            ]]
        }
    }
}
