import FuzzSupport
import SluiceCore
import SluiceGuardDuty

/// JSON decode + matcher: any bytes go through simdjson under the router's limits; whatever
/// parses is matched by the compiled matcher and by the brute-force reference, which must agree,
/// and its finding summary and template context are built (the numeric conversions of issue 10).
/// `JSON.value(atPath:)`, which compares keys as UTF-8 in place, must find every member of the
/// event by its dotted path (keys without `.`, first of their UTF-8 bytes in their object).
let table: RouteTable = {
    let yaml = """
        routes:
          - {name: guardduty, match: {source: [aws.guardduty], detail-type: [GuardDuty Finding]}, targets: [t]}
          - {name: severity, match: {detail: {severity: [{numeric: [">=", 7, "<", 1e300]}]}}, targets: [t]}
          - {name: runtime, match: {detail: {service: {featureName: [RuntimeMonitoring]}, type: [{prefix: "Execution:"}]}}, targets: [t]}
          - {name: ip, match: {detail: {service: {action: {networkConnectionAction: {remoteIpDetails: {ipAddressV4: [{cidr: "198.51.100.0/24"}]}}}}}}, targets: [t]}
          - {name: wild, match: {detail: {resource: {instanceDetails: {instanceId: [{wildcard: "i-*f*"}]}}}}, targets: [t]}
          - {name: but, match: {detail: {region: [{anything-but: {prefix: "us-"}}], accountId: [{exists: true}]}}, targets: [t]}
          - {name: ci, match: {detail: {title: [{equals-ignore-case: "crypto"}, {suffix: {equals-ignore-case: "MINER"}}]}}, targets: [t]}
          - {name: or, match: {$or: [{detail: {count: [{numeric: ["<", 0]}]}}, {detail: {service: {count: [1, 2, 3, 1e300]}}}]}, targets: [t]}
          - {name: absent, match: {detail: {partition: [{exists: false}]}, account: [null, true, "x"]}, targets: [t]}
          - {name: re, match: {detail: {type: [{regex: "^[A-Z][a-z]+:Runtime/.+$"}]}}, targets: [t]}
        """
    do { return try RouteTable(routes: RouteLoader.load(path: "fuzz.yaml", text: yaml, environment: [:])) } catch {
        FuzzDriver.violated("the harness's own routes do not load: \(error)")
    }
}()
// libFuzzer calls back from one thread only.
nonisolated(unsafe) let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, count)
    _ = parser.parse(bytes) { document in
        let compiled = table.match(document.root)
        let event = JSON(document.root)
        let reference = table.referenceMatch(event)
        if compiled != reference { FuzzDriver.violated("compiled \(compiled) != reference \(reference)") }
        if let summary = FindingSummary(event: event) {
            _ = summary.templateContext
            _ = JSON.numberText(summary.severity)
        }
        _ = event.serialized()
        checkPaths(event)
    }
    return 0
}

/// Each member reachable through keys that a dotted path can name (not empty, no `.`, the first
/// of its bytes in its object) is what `value(atPath:)` returns for that path; at most 256 paths,
/// 8 levels deep. Byte equality, not `==` on String, which would equate canonically equivalent keys.
func checkPaths(_ event: JSON) {
    var budget = 256
    func walk(_ value: JSON, _ path: String, _ depth: Int) {
        guard depth < 8, case .object(let members) = value else { return }
        for (i, member) in members.enumerated() where budget > 0 {
            let key = member.key.utf8
            guard !key.isEmpty, !key.contains(UInt8(ascii: ".")),
                  !members[..<i].contains(where: { $0.key.utf8.elementsEqual(key) }) else { continue }
            budget -= 1
            let full = path.isEmpty ? member.key : path + "." + member.key
            guard let found = event.value(atPath: full) else { FuzzDriver.violated("value(atPath:) found nothing at \(full.debugDescription)") }
            if found.serialized() != member.value.serialized() { FuzzDriver.violated("value(atPath: \(full.debugDescription)) is another member") }
            walk(member.value, full, depth + 1)
        }
    }
    walk(event, "", 0)
}

@_cdecl("FuzzJSONMatch_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
