import SluiceGuardDuty
import Testing
@testable import SluiceCore

/// EventBridge's documented semantics, on GuardDuty-shaped events.
@Suite struct PatternSemanticsTests {
    static let finding = #"""
        {"version":"0","id":"c8c4daa7-a20c-2f03-0070-b7393dd542ad","detail-type":"GuardDuty Finding","source":"aws.guardduty",
         "account":"123456789012","time":"2024-10-04T04:00:00Z","region":"us-east-1","resources":[],
         "detail":{"schemaVersion":"2.0","accountId":"123456789012","region":"us-east-1","partition":"aws",
           "type":"CryptoCurrency:Runtime/BitcoinTool.B!DNS","severity":8.9,"confidence":0,
           "resource":{"resourceType":"EKSCluster","eksClusterDetails":{"name":"prod-payments-eks","tags":[{"key":"env","value":"prod"},{"key":"team","value":"payments"}]},
             "instanceDetails":{"instanceId":"i-0abc","tags":[{"key":"Name","value":"web-1"},{"key":"env","value":"staging"}],
               "networkInterfaces":[{"privateIpAddress":"10.1.2.3","ipv6Addresses":["2001:db8::1"],"publicIp":"54.1.2.3"}]}},
           "service":{"serviceName":"guardduty","resourceRole":"TARGET","archived":false,"count":3,
             "action":{"actionType":"NETWORK_CONNECTION","networkConnectionAction":{"remoteIpDetails":{"ipAddressV4":"198.51.100.7"},"remotePortDetails":{"port":8333}}},
             "runtimeDetails":{"process":{"name":"xmrig","executablePath":"/tmp/.x/xmrig","pid":4242}},
             "additionalInfo":{"sample":true,"value":null}}}}
        """#

    func m(_ pattern: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
        try PatternCheck.matches(pattern, Self.finding, sourceLocation: sourceLocation)
    }

    @Test func exactValues() throws {
        #expect(try m(#"{"source":["aws.guardduty"],"detail-type":["GuardDuty Finding"]}"#))
        #expect(try m(#"{"detail":{"severity":[8.9]}}"#))
        #expect(try m(#"{"detail":{"severity":[8.90]}}"#))  // numbers compare as numbers
        #expect(try !m(#"{"detail":{"severity":["8.9"]}}"#))  // a string is not a number
        #expect(try !m(#"{"account":[123456789012]}"#))  // nor a number a string
        #expect(try m(#"{"detail":{"service":{"archived":[false]}}}"#))
        #expect(try !m(#"{"detail":{"service":{"archived":["false"]}}}"#))
        #expect(try m(#"{"detail":{"service":{"additionalInfo":{"value":[null]}}}}"#))
        #expect(try m(#"{"detail":{"confidence":[0]}}"#))
        #expect(try !m(#"{"source":["aws.GuardDuty"]}"#))
        #expect(try m(#"{"region":["eu-west-1","us-east-1"]}"#))
    }

    @Test func stringOperators() throws {
        #expect(try m(#"{"detail":{"type":[{"prefix":"CryptoCurrency:"}]}}"#))
        #expect(try m(#"{"detail":{"type":[{"suffix":"!DNS"}]}}"#))
        #expect(try m(#"{"detail":{"type":[{"prefix":{"equals-ignore-case":"cryptocurrency:runtime"}}]}}"#))
        #expect(try m(#"{"detail":{"type":[{"suffix":{"equals-ignore-case":"bitcointool.b!dns"}}]}}"#))
        #expect(try m(#"{"source":[{"equals-ignore-case":"AWS.GuardDuty"}]}"#))
        #expect(try !m(#"{"detail":{"severity":[{"prefix":"8"}]}}"#))  // string operators need strings
        #expect(try m(#"{"detail":{"resource":{"eksClusterDetails":{"name":[{"wildcard":"prod-*-eks"}]}}}}"#))
        #expect(try !m(#"{"detail":{"resource":{"eksClusterDetails":{"name":[{"wildcard":"dev-*"}]}}}}"#))
        #expect(try m(#"{"detail":{"type":[{"wildcard":"*Runtime/*"}]}}"#))
        #expect(try m(#"{"detail":{"type":[{"exactly":"CryptoCurrency:Runtime/BitcoinTool.B!DNS"}]}}"#))
    }

    @Test func wildcardEscapes() throws {
        let e = #"{"path":"/tmp/*star","back":"a\\b"}"#
        #expect(try PatternCheck.matches(#"{"path":[{"wildcard":"/tmp/\\**"}]}"#, e))
        #expect(try !PatternCheck.matches(#"{"path":[{"wildcard":"/tmp/\\*x*"}]}"#, e))
        #expect(try PatternCheck.matches(#"{"back":[{"wildcard":"a\\\\b"}]}"#, e))
        #expect(PatternCheck.rejection(#"{"a":[{"wildcard":"a**b"}]}"#)?.contains("consecutive") == true)
        #expect(PatternCheck.rejection(#"{"a":[{"wildcard":"a\\b"}]}"#)?.contains("backslash") == true)
    }

    @Test func anythingBut() throws {
        #expect(try m(#"{"detail":{"resource":{"resourceType":[{"anything-but":"Instance"}]}}}"#))
        #expect(try !m(#"{"detail":{"resource":{"resourceType":[{"anything-but":["Instance","EKSCluster"]}]}}}"#))
        #expect(try !m(#"{"detail":{"severity":[{"anything-but":[8.9, 5]}]}}"#))
        #expect(try m(#"{"detail":{"severity":[{"anything-but":[8, 5]}]}}"#))
        #expect(try !m(#"{"region":[{"anything-but":{"prefix":"us-"}}]}"#))
        #expect(try m(#"{"region":[{"anything-but":{"suffix":"-2"}}]}"#))
        #expect(try !m(#"{"region":[{"anything-but":{"equals-ignore-case":["US-EAST-1"]}}]}"#))
        #expect(try !m(#"{"detail":{"type":[{"anything-but":{"wildcard":"*Bitcoin*"}}]}}"#))
        #expect(try m(#"{"detail":{"type":[{"anything-but":{"wildcard":["*Trojan*","*Backdoor*"]}}]}}"#))
        // anything-but needs the field to be there
        #expect(try !m(#"{"detail":{"nothere":[{"anything-but":"x"}]}}"#))
        // any array element may satisfy it (EventBridge: intersection semantics)
        #expect(try m(#"{"detail":{"resource":{"instanceDetails":{"tags":{"value":[{"anything-but":"prod"}]}}}}}"#))
    }

    @Test func numeric() throws {
        #expect(try m(#"{"detail":{"severity":[{"numeric":[">=",7,"<",9]}]}}"#))
        #expect(try !m(#"{"detail":{"severity":[{"numeric":[">",8.9]}]}}"#))
        #expect(try m(#"{"detail":{"severity":[{"numeric":["<=",8.9]}]}}"#))
        #expect(try m(#"{"detail":{"severity":[{"numeric":["=",8.90]}]}}"#))
        #expect(try m(#"{"detail":{"service":{"count":[{"numeric":[">",0,"<=",5]}]}}}"#))
        #expect(try !m(#"{"account":[{"numeric":[">",0]}]}"#))  // a numeric-looking string is not a number
        #expect(try m(#"{"detail":{"severity":[{"numeric":["<",4]},{"numeric":[">=",7]}]}}"#))
    }

    @Test func existsAndCIDR() throws {
        #expect(try m(#"{"detail":{"service":{"runtimeDetails":{"process":{"name":[{"exists":true}]}}}}}"#))
        #expect(try m(#"{"detail":{"service":{"ebsVolumeScanDetails":{"scanId":[{"exists":false}]}}}}"#))
        #expect(try !m(#"{"detail":{"service":{"runtimeDetails":{"process":[{"exists":true}]}}}}"#))  // not a leaf
        #expect(try m(#"{"detail":{"service":{"runtimeDetails":{"process":[{"exists":false}]}}}}"#))
        #expect(try m(#"{"detail":{"service":{"additionalInfo":{"value":[{"exists":true}]}}}}"#))  // null is a value
        #expect(try m(#"{"detail":{"service":{"action":{"networkConnectionAction":{"remoteIpDetails":{"ipAddressV4":[{"cidr":"198.51.100.0/24"}]}}}}}}"#))
        #expect(try !m(#"{"detail":{"service":{"action":{"networkConnectionAction":{"remoteIpDetails":{"ipAddressV4":[{"cidr":"10.0.0.0/8"}]}}}}}}"#))
        #expect(try m(#"{"detail":{"resource":{"instanceDetails":{"networkInterfaces":{"ipv6Addresses":[{"cidr":"2001:db8::/32"}]}}}}}"#))
        #expect(try m(#"{"detail":{"resource":{"instanceDetails":{"networkInterfaces":{"ipv6Addresses":["2001:0db8:0:0:0:0:0:1"]}}}}}"#))
        #expect(try !m(#"{"detail":{"resource":{"instanceDetails":{"networkInterfaces":{"privateIpAddress":[{"cidr":"2001:db8::/32"}]}}}}}"#))
    }

    @Test func orAndArrays() throws {
        #expect(try m(#"{"$or":[{"detail":{"severity":[{"numeric":[">=",9]}]}},{"detail":{"type":[{"prefix":"Crypto"}]}}]}"#))
        #expect(try !m(#"{"$or":[{"detail":{"severity":[{"numeric":[">=",9]}]}},{"region":["eu-west-1"]}]}"#))
        #expect(try m(#"{"detail":{"$or":[{"severity":[1]},{"service":{"$or":[{"count":[3]},{"archived":[true]}]}}]}}"#))
        // tag key and value must come from the same tag
        #expect(try m(#"{"detail":{"resource":{"instanceDetails":{"tags":{"key":["env"],"value":["staging"]}}}}}"#))
        #expect(try !m(#"{"detail":{"resource":{"instanceDetails":{"tags":{"key":["Name"],"value":["staging"]}}}}}"#))
        // but tags of different arrays are independent
        #expect(try m(#"{"detail":{"resource":{"instanceDetails":{"tags":{"value":["web-1"]}},"eksClusterDetails":{"tags":{"value":["payments"]}}}}}"#))
    }

    @Test func extensions() throws {
        #expect(try m(#"{"detail":{"service":{"runtimeDetails":{"process":{"executablePath":[{"regex":"^/tmp/\\.[a-z]+/(xmrig|minerd)$"}]}}}}}"#))
        #expect(try !m(#"{"detail":{"service":{"runtimeDetails":{"process":{"executablePath":[{"regex":"^/usr/"}]}}}}}"#))
        #expect(try m(#"{"detail":{"severity":[{"$and":[{"numeric":[">",5]},{"anything-but":[8]}]}]}}"#))
        #expect(try !m(#"{"detail":{"severity":[{"$and":[{"numeric":[">",5]},{"anything-but":[8.9]}]}]}}"#))
        #expect(try m(#"{"detail":{"type":[{"$and":[{"prefix":"Crypto"},{"suffix":"DNS"},{"anything-but":{"wildcard":"*Trojan*"}}]}]}}"#))
    }

    @Test func guardDutyCriteria() throws {
        PatternDialects.register(GuardDutyCriteria.dialect)
        #expect(try m(#"{"Criterion":{"type":{"Equals":["CryptoCurrency:Runtime/BitcoinTool.B!DNS","Recon:EC2/PortProbeUnprotectedPort"]},"severity":{"GreaterThanOrEqual":7}}}"#))
        #expect(try !m(#"{"Criterion":{"severity":{"GreaterThan":4,"LessThan":7}}}"#))
        #expect(try m(#"{"Criterion":{"service.resourceRole":{"NotEquals":["ACTOR"]},"resource.resourceType":{"Equals":["EKSCluster"]}}}"#))
        #expect(try !m(#"{"Criterion":{"service.resourceRole":{"Neq":["TARGET"]}}}"#))
        #expect(try m(#"{"Criterion":{"severity":{"Equals":["8.9"]}}}"#))
        #expect(try m(#"{"Criterion":{"service.archived":{"Equals":["false"]}}}"#))
        #expect(try !m(#"{"Criterion":{"service.archived":{"NotEquals":["false"]}}}"#))
        #expect(try m(#"{"Criterion":{"resource.instanceDetails.tags.value":{"Equals":["staging"]}}}"#))
        #expect(try !m(#"{"FindingCriteria":{"Criterion":{"accountId":{"Equals":["111111111111"]}}}}"#))
        #expect(PatternCheck.rejection(#"{"Criterion":{"type":{"Like":["x"]}}}"#)?.contains("unknown condition") == true)
    }

    @Test(arguments: [
        (#"[1]"#, "Filter is not an object"),
        (#"{}"#, "Empty objects are not allowed"),
        (#"{"a":"x"}"#, "must be an object or an array"),
        (#"{"a":[]}"#, "Empty arrays are not allowed"),
        (#"{"a":[[1]]}"#, "Match value must be"),
        (#"{"a":[{"prefix":1}]}"#, "must be a string"),
        (#"{"a":[{"prefix":"x","suffix":"y"}]}"#, "Only one key allowed"),
        (#"{"a":[{"bogus":"x"}]}"#, "Unrecognized match type bogus"),
        (#"{"a":[{"numeric":[">",5,">",6]}]}"#, "Bad numeric range operator"),
        (#"{"a":[{"numeric":[">",9,"<",6]}]}"#, "Bottom must be less than top"),
        (#"{"a":[{"numeric":["<",5,">",1]}]}"#, "Too many elements"),
        (#"{"a":[{"numeric":["~",5]}]}"#, "Unrecognized numeric range operator"),
        (#"{"a":[{"numeric":[">","5"]}]}"#, "must be numeric"),
        (#"{"a":[{"exists":"yes"}]}"#, "either true or false"),
        (#"{"a":[{"anything-but":["x",1]}]}"#, "mixed type is not supported"),
        (#"{"a":[{"anything-but":[true]}]}"#, "null|boolean is not supported"),
        (#"{"a":[{"anything-but":{"prefix":""}}]}"#, "Null prefix/suffix not allowed"),
        (#"{"a":[{"anything-but":{"numeric":[">",1]}}]}"#, "Unsupported anything-but pattern"),
        (#"{"a":[{"cidr":"10.0.0.0/33"}]}"#, "prefix length"),
        (#"{"a":[{"cidr":"10.0.0"}]}"#, "invalid CIDR"),
        (#"{"$or":[{"a":["x"]}]}"#, "at least 2"),
        (#"{"a":[{"regex":"(a"}]}"#, "missing ')'"),
        (#"{"a":[{"regex":"(?=a)"}]}"#, "lookaround"),
    ])
    func rejections(pattern: String, reason: String) {
        let message = PatternCheck.rejection(pattern)
        #expect(message?.contains(reason) == true, "\(pattern): \(message ?? "accepted")")
    }
}
