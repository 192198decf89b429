import FuzzSupport
import SluiceCore
import SluiceGuardDuty

/// JSON decode + matcher: any bytes go through simdjson under the router's limits; whatever
/// parses is matched by the compiled matcher and by the brute-force reference, which must agree,
/// and its finding summary and template context are built (the numeric conversions of issue 10).
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
    }
    return 0
}

@_cdecl("FuzzJSONMatch_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
