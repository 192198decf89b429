import FuzzSupport
import SluiceCore
import SluiceGuardDuty

/// The pattern parser: any text as an EventBridge pattern; whatever parses is compiled into the
/// automaton (with its complexity check) and run against a fixed finding by both matchers.
let finding: JSON = {
    let text = #"""
        {"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "account": "111122223333", "region": "us-east-1",
         "detail": {"type": "Execution:Runtime/ReverseShell", "severity": 8, "title": "Reverse shell", "region": "us-east-1",
                    "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0a4f9b2c", "tags": [{"key": "env", "value": "prod"}]}},
                    "service": {"count": 3, "featureName": "RuntimeMonitoring",
                                "action": {"networkConnectionAction": {"remoteIpDetails": {"ipAddressV4": "198.51.100.7"}}}}}}
        """#
    do { return try JSON.parse(text) } catch { FuzzDriver.violated("the harness's own finding does not parse") }
}()
// libFuzzer calls back from one thread only.
nonisolated(unsafe) let parser = JSONParser()

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    // GuardDuty criteria are a dialect the executable registers: so does the harness.
    PatternDialects.register(GuardDutyCriteria.dialect)
    guard let json = try? JSON.parse(String(decoding: FuzzDriver.bytes(data, count), as: UTF8.self)),
          let pattern = try? Pattern(json: json) else { return 0 }
    _ = ReferenceMatcher.matches(pattern, finding)
    // Through the route table: the compiled automaton, its complexity check and the reference.
    guard let table = try? RouteTable(routes: [Route(name: "fuzz", match: json, targets: [RouteTarget(connector: "t")])]) else { return 0 }
    _ = parser.parse(finding.serialized()) { document in
        let compiled = table.match(document.root)
        let reference = table.referenceMatch(finding)
        if compiled != reference { FuzzDriver.violated("compiled \(compiled) != reference \(reference) for \(json.serialized())") }
    }
    return 0
}

@_cdecl("FuzzPattern_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
