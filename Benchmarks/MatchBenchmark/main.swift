// sluice-bench-match: matching throughput on synthetic GuardDuty findings, one core, JSON
// parsing included, beside baselines measured in the same run (parse only, parse plus one
// never-matching pattern, the brute-force reference). Route sets: the mixed sets of issue 15
// (ten shapes, three proportions and seeds; `SluiceMatchWorkload`) and the first benchmark's
// "classic" set. Prints only; no thresholds are asserted.
//
//   swift build -c release --product sluice-bench-match && .build/release/sluice-bench-match
//
// Options: --events N (distinct findings, default 20000), --seconds S (per round, default 1),
// --rounds N (best of, default 3), --mix NAME, --mixed-only, --tables 1000,10000,
// --compiled-only [--split] (for profiling).
import Foundation
import SluiceCore
import SluiceFormats
import SluiceMatchWorkload

enum Vocabulary {
    static let accounts = (0..<500).map { String(100_000_000_000 + $0 * 7_919_113) }
    static let regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
                          "eu-north-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ca-central-1", "sa-east-1", "me-south-1"]
    static let runtimeTypes = [
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS", "CryptoCurrency:Runtime/BitcoinTool.B", "Execution:Runtime/NewBinaryExecuted",
        "Execution:Runtime/ReverseShell", "PrivilegeEscalation:Runtime/DockerSocketAccessed", "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified",
        "DefenseEvasion:Runtime/FilelessExecution", "Backdoor:Runtime/C&CActivity.B!DNS", "Impact:Runtime/CryptoMinerExecuted",
        "Discovery:Runtime/SuspiciousCommand", "Persistence:Runtime/SuspiciousCommand", "Execution:Runtime/MaliciousFileExecuted",
    ]
    static let otherTypes = [
        "Recon:EC2/PortProbeUnprotectedPort", "UnauthorizedAccess:EC2/SSHBruteForce", "UnauthorizedAccess:EC2/RDPBruteForce",
        "Backdoor:EC2/C&CActivity.B!DNS", "Trojan:EC2/BlackholeTraffic", "UnauthorizedAccess:IAMUser/TorIPCaller",
        "Recon:IAMUser/MaliciousIPCaller.Custom", "Policy:S3/BucketBlockPublicAccessDisabled", "Discovery:S3/MaliciousIPCaller",
        "CredentialAccess:Kubernetes/MaliciousIPCaller", "Impact:EC2/PortSweep", "CryptoCurrency:EC2/BitcoinTool.B!DNS",
    ]
    static let teams = (0..<200).map { "team\($0)" }
    static let envs = ["prod", "staging", "dev", "test", "sandbox"]
}

/// A GuardDuty finding in its EventBridge envelope, about 1.8 KB.
func makeFinding(_ g: inout SplitMix, _ n: Int) -> String {
    let account = Vocabulary.accounts.randomElement(using: &g)!
    let region = Vocabulary.regions.randomElement(using: &g)!
    let runtime = Bool.random(using: &g)
    let type = (runtime ? Vocabulary.runtimeTypes : Vocabulary.otherTypes).randomElement(using: &g)!
    let severity = [2.0, 3.5, 5.0, 5.5, 8.0, 8.9, 9.2].randomElement(using: &g)!
    let team = Vocabulary.teams.randomElement(using: &g)!
    let env = Vocabulary.envs.randomElement(using: &g)!
    let ip = "\(Int.random(in: 1...223, using: &g)).\(Int.random(in: 0...255, using: &g)).\(Int.random(in: 0...255, using: &g)).\(Int.random(in: 1...254, using: &g))"
    let id = String(format: "%016llx%016llx", g.next(), g.next())
    let eks = runtime && Bool.random(using: &g)
    let resource: String
    if eks {
        resource = #"{"resourceType":"EKSCluster","eksClusterDetails":{"name":"\#(team)-\#(env)-eks","arn":"arn:aws:eks:\#(region):\#(account):cluster/\#(team)-\#(env)-eks","vpcId":"vpc-0\#(id.prefix(16))","status":"ACTIVE","tags":[{"key":"team","value":"\#(team)"},{"key":"env","value":"\#(env)"}]},"kubernetesDetails":{"kubernetesWorkloadDetails":{"name":"worker-\#(n % 97)","type":"deployments","namespace":"ns-\#(n % 13)","containers":[{"name":"app","image":"\#(account).dkr.ecr.\#(region).amazonaws.com/app:1.\#(n % 30)"}]}}}"#
    } else {
        resource = #"{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0\#(id.prefix(16))","instanceType":"m5.large","imageId":"ami-0\#(id.suffix(16))","launchTime":"2025-04-01T10:00:00.000Z","platform":null,"tags":[{"key":"Name","value":"\#(team)-host-\#(n % 50)"},{"key":"env","value":"\#(env)"},{"key":"team","value":"\#(team)"}],"networkInterfaces":[{"networkInterfaceId":"eni-0\#(id.prefix(12))","privateIpAddress":"10.\#(n % 256).\#((n / 256) % 256).\#(n % 200 + 1)","publicIp":"\#(ip)","vpcId":"vpc-0\#(id.suffix(12))","subnetId":"subnet-0\#(id.prefix(10))","securityGroups":[{"groupId":"sg-0\#(id.suffix(10))","groupName":"default"}]}]}}"#
    }
    let action = runtime
        ? #""runtimeDetails":{"process":{"name":"proc\#(n % 40)","executablePath":"/usr/bin/proc\#(n % 40)","executableSha256":"\#(id)\#(id)","pid":\#(1000 + n % 60000),"user":"root","userId":0,"startTime":1747710709.45}},"action":{"actionType":"DNS_REQUEST","dnsRequestAction":{"domain":"pool\#(n % 20).mining.example","protocol":"UDP","blocked":false}}"#
        : #""action":{"actionType":"NETWORK_CONNECTION","networkConnectionAction":{"connectionDirection":"INBOUND","protocol":"TCP","blocked":false,"remoteIpDetails":{"ipAddressV4":"\#(ip)","country":{"countryName":"Example"},"organization":{"asn":"64500","asnOrg":"EXAMPLE-AS","isp":"Example ISP","org":"Example Org"}},"remotePortDetails":{"port":\#(1024 + n % 60000)},"localPortDetails":{"port":22,"portName":"SSH"}}}"#
    return #"{"version":"0","id":"\#(id.prefix(8))-\#(id.prefix(12).suffix(4))-4\#(id.prefix(15).suffix(3))-8\#(id.suffix(3))-\#(id.suffix(12))","detail-type":"GuardDuty Finding","source":"aws.guardduty","account":"\#(account)","time":"2025-05-20T03:29:41Z","region":"\#(region)","resources":[],"detail":{"schemaVersion":"2.0","accountId":"\#(account)","region":"\#(region)","partition":"aws","id":"\#(id)","arn":"arn:aws:guardduty:\#(region):\#(account):detector/\#(id)/finding/\#(id)","type":"\#(type)","resource":\#(resource),"service":{"serviceName":"guardduty","detectorId":"\#(id)","archived":false,"count":\#(1 + n % 40),"eventFirstSeen":"2025-05-20T03:11:52.000Z","eventLastSeen":"2025-05-20T03:26:05.000Z","resourceRole":"\#(n % 7 == 0 ? "ACTOR" : "TARGET")","featureName":"\#(runtime ? "RuntimeMonitoring" : "FlowLogs")",\#(action),"additionalInfo":{"value":"{}","type":"default"}},"severity":\#(severity),"createdAt":"2025-05-20T03:29:41.077Z","updatedAt":"2025-05-20T03:29:41.077Z","title":"\#(type) activity observed for \#(team) in \#(region).","description":"GuardDuty observed \#(type) on a resource of \#(team) (\#(env)). Investigate the resource and rotate any credentials it holds."}}"#
}

/// The first benchmark's mix of routes ("classic"), kept for comparison with earlier figures.
func makeRoutes(_ count: Int, seed: UInt64) -> [Route] {
    var g = SplitMix(seed: seed)
    var routes: [Route] = []
    routes.reserveCapacity(count)
    for i in 0..<count {
        let account = JSON.string(Vocabulary.accounts.randomElement(using: &g)!)
        let region = JSON.string(Vocabulary.regions.randomElement(using: &g)!)
        let type = (Vocabulary.runtimeTypes + Vocabulary.otherTypes).randomElement(using: &g)!
        let category = String(type.split(separator: "/")[0])
        let pattern: JSON
        switch Int.random(in: 0..<20, using: &g) {
        case 0..<8:  // per-account routing with a severity floor
            pattern = ["source": ["aws.guardduty"], "account": [account], "detail": ["severity": [["numeric": [">=", .number(Double(Int.random(in: 1...8, using: &g)))]]]]]
        case 8..<11:  // type family in a region
            pattern = ["detail-type": ["GuardDuty Finding"], "region": [region], "detail": ["type": [["prefix": .string(category + "/")]]]]
        case 11:  // DNS findings of an account
            pattern = ["account": [account], "detail": ["type": [["suffix": "!DNS"]]]]
        case 12, 13:  // severity band on instances of an account
            let lo = Double(Int.random(in: 1...6, using: &g))
            pattern = ["account": [account], "detail": ["severity": [["numeric": [">=", .number(lo), "<", .number(lo + 3)]]], "resource": ["resourceType": ["Instance"]]]]
        case 14, 15:  // tag anything-but, same tag element
            pattern = ["account": [account], "detail": ["resource": ["instanceDetails": ["tags": ["key": ["env"], "value": [["anything-but": ["dev", "test", "sandbox"]]]]]]]]
        case 16:  // remote IPs in a CIDR
            pattern = ["region": [region], "detail": ["service": ["action": ["networkConnectionAction": ["remoteIpDetails": ["ipAddressV4": [["cidr": .string("\(Int.random(in: 1...223, using: &g)).\(Int.random(in: 0...255, using: &g)).0.0/16")]]]]]]]]
        case 17:  // wildcard on cluster names
            pattern = ["detail": ["resource": ["eksClusterDetails": ["name": [["wildcard": .string("\(Vocabulary.teams.randomElement(using: &g)!)-*-eks")]]]]]]
        default:  // $or: high severity or a backdoor, for an account
            pattern = ["account": [account], "$or": [["detail": ["severity": [["numeric": [">=", 8]]]]], ["detail": ["type": [["prefix": "Backdoor:"]]]]]]
        }
        let suppress: [JSON] = i % 10 == 0 ? [["detail": ["service": ["resourceRole": ["ACTOR"]]]]] : []
        routes.append(Route(name: "route-\(i)", match: pattern, suppress: suppress, targets: [RouteTarget(connector: "sink")]))
    }
    return routes
}

func rss() -> (current: Int, peak: Int) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            return Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "0") ?? 0
        }
        return 0
    }
    return (field("VmRSS:") / 1024, field("VmHWM:") / 1024)
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// CPU time of this thread: on a shared machine a run is descheduled for a share of its wall
/// time that depends on the load, not on the code (wall-clock rates swung 2-4x between runs
/// of one binary at load averages of 10-30); the CPU time it was given does not.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// A rate by the wall clock and by the thread's CPU time.
struct Rate {
    var wall: Double
    var cpu: Double
}

/// Runs `body` over the events for about `budget` seconds; returns events/s by the wall clock
/// and by CPU time.
func measureRate(_ events: [[UInt8]], budget: Double, _ body: ([UInt8]) -> Void) -> Rate {
    let clock = ContinuousClock()
    let start = clock.now
    let cpuStart = threadCPUSeconds()
    var done = 0
    while true {
        for e in events { body(e) }
        done += events.count
        if seconds(clock.now - start) >= budget { break }
    }
    let cpu = threadCPUSeconds() - cpuStart
    return Rate(wall: Double(done) / seconds(clock.now - start), cpu: cpu > 0 ? Double(done) / cpu : 0)
}

func measure(_ events: [[UInt8]], budget: Double, _ body: ([UInt8]) -> Void) -> Double {
    measureRate(events, budget: budget, body).wall
}

func fmt(_ v: Double) -> String {
    let n = Int(v.rounded())
    var s = String(n)
    var i = s.count - 3
    while i > 0 {
        s.insert(",", at: s.index(s.startIndex, offsetBy: i))
        i -= 3
    }
    return s
}

/// Best of `rounds` measurements of `budget` seconds each: on a shared machine the best round
/// is the one least disturbed by other work.
func best(_ rounds: Int, _ events: [[UInt8]], budget: Double, _ body: ([UInt8]) -> Void) -> Double {
    bestRate(rounds, events, budget: budget, body).wall
}

/// The best round by each clock.
func bestRate(_ rounds: Int, _ events: [[UInt8]], budget: Double, _ body: ([UInt8]) -> Void) -> Rate {
    let all = (0..<max(rounds, 1)).map { _ in measureRate(events, budget: budget, body) }
    return Rate(wall: all.map(\.wall).max() ?? 0, cpu: all.map(\.cpu).max() ?? 0)
}

func label(_ text: String) -> String { text.padding(toLength: 58, withPad: " ", startingAt: 0) }

var eventCount = 20_000
var budget = 1.0
var rounds = 3
var compiledOnly = false
var tableSizes = [1_000, 10_000]
var split = false
var onlyMix: String?
var classic = true
var decode = false
var shapeOnly: String?
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--events": eventCount = Int(args.popFirst() ?? "") ?? eventCount
    case "--seconds": budget = Double(args.popFirst() ?? "") ?? budget
    case "--rounds": rounds = Int(args.popFirst() ?? "") ?? rounds
    case "--compiled-only": compiledOnly = true  // for profiling: skip baselines and checks
    case "--split": split = true  // with --compiled-only: time parse and match apart
    case "--tables": tableSizes = (args.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--mix": onlyMix = args.popFirst()  // only this set: even, account-heavy, runtime-heavy, classic, never (the baseline)
    case "--mixed-only": classic = false
    case "--decode": decode = true  // with --compiled-only: also through FindingDecoder, without and with the `sluice` view
    case "--shape": shapeOnly = args.popFirst()  // one shape alone (accounts, typeSeverity, ...), as the mix "shape NAME"
    default:
        print("usage: sluice-bench-match [--events N] [--seconds S] [--rounds N] [--mix NAME] [--shape NAME] [--mixed-only] [--tables 1000,10000] [--compiled-only [--split] [--decode]]")
        exit(2)
    }
}

/// One route set to measure: its findings and its table.
struct Workload {
    var name: String
    var events: [[UInt8]]
    var routes: Int
    var table: RouteTable
    var compileSeconds: Double
    var compileCPUSeconds: Double
}

let clock = ContinuousClock()
func compile(_ routes: [Route]) -> (RouteTable, Double, Double) {
    let start = clock.now
    let cpuStart = threadCPUSeconds()
    let table = try! RouteTable(routes: routes)
    return (table, seconds(clock.now - start), threadCPUSeconds() - cpuStart)
}

var g = SplitMix(seed: 42)
let classicEvents = (0..<eventCount).map { Array(makeFinding(&g, $0).utf8) }
var findings = MixedFindingGenerator(seed: 7)
let mixedEvents = (0..<eventCount).map { _ in findings.next() }
func average(_ events: [[UInt8]]) -> Int { events.reduce(0) { $0 + $1.count } / max(events.count, 1) }
print("sluice-bench-match: one core, JSON parsing included in every figure; rates are the best of \(rounds) rounds of \(budget) s")
print("  classic findings: \(eventCount), \(average(classicEvents)) bytes on average (the first benchmark's generator)")
print("  mixed findings:   \(eventCount), \(average(mixedEvents)) bytes on average (EC2, EKS/ECS/EC2 runtime, IAM, S3, EKS audit; seed 7)")
print("")

// Mixed sets first, so the RSS figure is that of the largest mixed table alone.
let rssStart = rss()
var workloads: [Workload] = []
var rssWithMixed10k: Int?
// `--shape NAME`: that shape's routes alone (for profiling shape by shape), instead of the mixes.
let shapeMixes = RouteShape.allCases.filter { "\($0)" == shapeOnly }.map { s in
    (name: "shape \(s)", weights: RouteShape.allCases.map { $0 == s ? 1 : 0 })
}
for (k, mix) in (shapeOnly == nil ? MixedRouteGenerator.mixes : shapeMixes).enumerated() where onlyMix == nil || onlyMix == mix.name || shapeOnly != nil {
    for n in tableSizes {
        var generator = MixedRouteGenerator(seed: UInt64(1 + k) * 1_000 + UInt64(n), weights: mix.weights)
        let (table, time, cpu) = compile(generator.routes(n))
        workloads.append(Workload(name: "mixed \(mix.name), seed \(1 + k)", events: mixedEvents, routes: n, table: table, compileSeconds: time, compileCPUSeconds: cpu))
        if n == 10_000 && rssWithMixed10k == nil { rssWithMixed10k = rss().current }
    }
}
if classic && (onlyMix == nil || onlyMix == "classic") {
    for n in tableSizes {
        let (table, time, cpu) = compile(makeRoutes(n, seed: UInt64(n)))
        workloads.append(Workload(name: "classic", events: classicEvents, routes: n, table: table, compileSeconds: time, compileCPUSeconds: cpu))
    }
}
if onlyMix == "never" {
    // For profiling the baseline: parsing and one pattern that never matches.
    let (table, time, cpu) = compile([Route(name: "never", match: ["source": ["never.matches"]], targets: [RouteTarget(connector: "sink")])])
    workloads.append(Workload(name: "never", events: mixedEvents, routes: 1, table: table, compileSeconds: time, compileCPUSeconds: cpu))
}
let rssAll = rss()

let parser = JSONParser()
if compiledOnly {
    for w in workloads {
        let scratch = MatchScratch()
        let measured = bestRate(rounds, w.events, budget: budget) { e in _ = parser.parse(e) { w.table.match($0.root, scratch: scratch) } }
        print("compiled  \(w.name), \(w.routes) routes  \(fmt(measured.wall)) findings/s (by CPU time \(fmt(measured.cpu))/s)")
        if decode {
            // The one decoder every command uses (SluiceFormats): its GuardDuty fast path (no
            // route reads `sluice`), the view members a route on `sluice.severity_id` reads, and
            // the whole view (every member read by some route) put into each event.
            let plain = FindingDecoder(injectsView: false), viewed = FindingDecoder(injectsView: true)
            let severity = FindingDecoder(viewFields: [.severityID])
            let fast = best(rounds, w.events, budget: budget) { e in _ = plain.decode(e) { _ = w.table.match($0.event, scratch: scratch) } }
            let one = best(rounds, w.events, budget: budget) { e in _ = severity.decode(e) { _ = w.table.match($0.event, scratch: scratch) } }
            let slow = best(rounds, w.events, budget: budget) { e in _ = viewed.decode(e) { _ = w.table.match($0.event, scratch: scratch) } }
            print("decoder   \(w.name), \(w.routes) routes  no view \(fmt(fast)) findings/s, severity_id \(fmt(one)) findings/s, view injected \(fmt(slow)) findings/s")
        }
        if split {
            // Where the time goes: parse vs match, timed apart (clock reads add ~40 ns per event).
            var parseTime = Duration.zero
            var matchTime = Duration.zero
            for _ in 0..<3 {
                for e in w.events {
                    let t0 = clock.now
                    _ = parser.parse(e) { doc in
                        let t1 = clock.now
                        _ = w.table.match(doc.root, scratch: scratch)
                        let t2 = clock.now
                        parseTime += t1 - t0
                        matchTime += t2 - t1
                    }
                }
            }
            let k = Double(3 * w.events.count) / 1e9
            print("          parse \(String(format: "%.0f", seconds(parseTime) / k)) ns, match \(String(format: "%.0f", seconds(matchTime) / k)) ns per finding")
        }
    }
    exit(0)
}

// Before timing: the compiled matcher agrees with the brute-force reference on a sample of
// every set (the differential test checks the same generated sets).
var checked = 0
var checkedMatches = 0
var parsedSamples: [String: [JSON]] = [:]
for w in workloads {
    let key = w.name == "classic" ? "classic" : "mixed"
    let sample = parsedSamples[key] ?? w.events.prefix(200).map { try! JSON.parse(String(decoding: $0, as: UTF8.self)) }
    parsedSamples[key] = sample
    let scratch = MatchScratch()
    for (json, e) in zip(sample, w.events) {
        let expected = w.table.referenceMatch(json)
        let got = try! parser.parse(e) { w.table.match($0.root, scratch: scratch) }.get()
        precondition(expected == got, "compiled and reference matchers disagree on \(w.name), \(w.routes) routes")
        checkedMatches += got.count
        checked += 1
    }
}

// The baseline of the ratios: parsing plus one pattern that never matches, as issue 15 measures it.
let (neverTable, _, _) = compile([Route(name: "never", match: ["source": ["never.matches"]], targets: [RouteTarget(connector: "sink")])])
var baselines: [String: Rate] = [:]
for (key, events) in [("classic", classicEvents), ("mixed", mixedEvents)] {
    let scratch = MatchScratch()
    let raw = best(rounds, events, budget: budget) { e in _ = parser.parse(e) { $0.tapeCount } }
    let never = bestRate(rounds, events, budget: budget) { e in _ = parser.parse(e) { neverTable.match($0.root, scratch: scratch) } }
    baselines[key] = never
    print(label("baseline  \(key) findings, simdjson parse only") + "\(fmt(raw)) findings/s")
    print(label("baseline  \(key), parse-only (1 never-matching pattern)") + "\(fmt(never.wall)) findings/s (by CPU time \(fmt(never.cpu))/s)")
}
if let w = workloads.first(where: { $0.routes == 1_000 }) {
    let sample = Array(w.events.prefix(500))
    let reference = measure(sample, budget: budget) { e in _ = parser.parse(e) { doc in w.table.referenceMatch(JSON(doc.root)) } }
    print(label("baseline  brute-force reference, \(w.name), 1,000") + "\(fmt(reference)) findings/s")
}
print("")
print(label("set, routes") + "findings/s   ratio to parse-only   routes matched/finding   ns/finding   by CPU time: findings/s, ratio")
for w in workloads {
    let scratch = MatchScratch()
    var matched = 0
    for e in w.events { matched += (try? parser.parse(e) { w.table.match($0.root, scratch: scratch) }.get().count) ?? 0 }
    let measured = bestRate(rounds, w.events, budget: budget) { e in _ = parser.parse(e) { w.table.match($0.root, scratch: scratch) } }
    let rate = measured.wall
    let baseline = baselines[w.name == "classic" ? "classic" : "mixed"] ?? measured
    print(label("\(w.name), \(fmt(Double(w.routes)))")
        + "\(fmt(rate))".padding(toLength: 13, withPad: " ", startingAt: 0)
        + String(format: "%.2f", rate / baseline.wall).padding(toLength: 22, withPad: " ", startingAt: 0)
        + String(format: "%.2f", Double(matched) / Double(w.events.count)).padding(toLength: 25, withPad: " ", startingAt: 0)
        + String(format: "%.0f", 1e9 / rate).padding(toLength: 13, withPad: " ", startingAt: 0)
        + "\(fmt(measured.cpu)), " + String(format: "%.2f", baseline.cpu > 0 ? measured.cpu / baseline.cpu : 0))
}
print("")
for w in workloads { print(label("compile   \(w.name), \(fmt(Double(w.routes)))") + String(format: "%.3f s (CPU time %.3f s)", w.compileSeconds, w.compileCPUSeconds)) }
if let r = rssWithMixed10k { print("memory    RSS \(r) MB with the first mixed 10,000-route table (was \(rssStart.current) MB with the findings loaded)") }
print("memory    RSS \(rssAll.current) MB with all \(workloads.count) tables (peak \(rssAll.peak) MB)")
print("check     compiled == reference on \(checked) findings over \(workloads.count) tables (\(checkedMatches) route matches)")
