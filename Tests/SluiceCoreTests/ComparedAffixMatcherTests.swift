import Testing
@testable import SluiceCore

/// Groups whose affixes are a few case-sensitive prefixes and suffixes compare them with the
/// leaf's bytes (`CompiledMatcher.ComparedAffix`) instead of finding the leaf's affix atoms and
/// looking them up. What could go wrong: an affix longer than the value, equal to it, or
/// around the eight- and sixteen-byte word boundaries; bytes after the value's end (another
/// string in simdjson's buffer) or after the affix's key (the next key, the padding) taken into
/// the compare; a leaf that is not a string; two leaves at the path (an array); a wildcard found
/// by its literal prefix (still evaluated whole); groups that must keep the atom lookup (more
/// affixes than `comparedAffixLimit`, an ignore-case affix beside them). Every expected answer
/// is written out by hand from EventBridge's rules; the brute-force reference must agree too.
@Suite struct ComparedAffixMatcherTests {
    static func route(_ name: String, _ match: JSON) -> Route {
        Route(name: name, match: match, targets: [RouteTarget(connector: "sink")])
    }

    static func comparedGroups(_ m: CompiledMatcher) -> Int {
        (0..<m.groups.count).filter { m.groups[$0].flags.contains(.affixesCompared) }.count
    }

    @Test func aFewAffixesAfterAnAccountAreCompared() throws {
        let table = try RouteTable(routes: [
            Self.route("prefix", ["account": ["1"], "type": [["prefix": "Recon:"]]]),
            Self.route("suffix", ["account": ["1"], "type": [["suffix": "!DNS"]]]),
            Self.route("long-prefix", ["account": ["1"], "type": [["prefix": "UnauthorizedAccess:EC2/"]]]),
            Self.route("eight", ["account": ["1"], "type": [["suffix": "BitcoinT"]]]),
            Self.route("other-account", ["account": ["2"], "type": [["prefix": "Recon:"]]]),
        ])
        // Account 1's group at `type` (four affixes) and account 2's (one).
        #expect(Self.comparedGroups(table.matcher) == 2)
        try RouteAnswers.check(table, [
            (#"{"account":"1","type":"Recon:EC2/Portscan"}"#, [0]),
            (#"{"account":"1","type":"Recon:"}"#, [0]),
            (#"{"account":"1","type":"Recon"}"#, []),
            (#"{"account":"1","type":"recon:EC2/Portscan"}"#, []),
            (#"{"account":"1","type":"Backdoor:EC2/C&CActivity.B!DNS"}"#, [1]),
            (#"{"account":"1","type":"!DNS"}"#, [1]),
            (#"{"account":"1","type":"DNS"}"#, []),
            (#"{"account":"1","type":"Recon:X!DNS"}"#, [0, 1]),
            (#"{"account":"1","type":"UnauthorizedAccess:EC2/SSHBruteForce"}"#, [2]),
            (#"{"account":"1","type":"UnauthorizedAccess:EC2"}"#, []),
            (#"{"account":"1","type":"UnauthorizedAccess:EC3/SSHBruteForce"}"#, []),
            (#"{"account":"1","type":"BitcoinT"}"#, [3]),
            (#"{"account":"1","type":"CryptoCurrency:EC2/BitcoinT"}"#, [3]),
            (#"{"account":"1","type":"CryptoCurrency:EC2/BitcoinTool"}"#, []),
            // The bytes after a value are the next string's: a longer neighbour must not count.
            (#"{"account":"1","type":"Reco","other":"Recon:Recon:"}"#, []),
            (#"{"account":"1","type":["Trojan:EC2/X","Recon:Y"]}"#, [0]),
            (#"{"account":"1","type":["Trojan:EC2/X",7,true,null]}"#, []),
            (#"{"account":"1","type":12345678}"#, []),
            (#"{"account":"2","type":"Recon:EC2/Portscan"}"#, [4]),
            (#"{"account":"3","type":"Recon:EC2/Portscan"}"#, []),
        ])
    }

    @Test func wildcardPrefixesAreStillEvaluated() throws {
        let table = try RouteTable(routes: [
            Self.route("cluster", ["account": ["1"], "name": [["wildcard": "team5-*-eks"]]]),
            Self.route("exact-and-prefix", ["account": ["1"], "name": ["team5", ["prefix": "team6-"]]]),
        ])
        #expect(Self.comparedGroups(table.matcher) == 1)
        try RouteAnswers.check(table, [
            (#"{"account":"1","name":"team5-prod-eks"}"#, [0]),
            (#"{"account":"1","name":"team5-prod-ecs"}"#, []),
            (#"{"account":"1","name":"team5"}"#, [1]),
            (#"{"account":"1","name":"team6-x"}"#, [1]),
            (#"{"account":"1","name":"team5-eks"}"#, []),
            (#"{"account":"1","name":"team5--eks"}"#, [0]),
        ])
    }

    @Test func manyAffixesKeepTheAtomLookup() throws {
        let many = (0...CompiledMatcher.comparedAffixLimit).map { k in
            Self.route("p\(k)", ["account": ["1"], "type": [["prefix": .string("P\(k):")]]])
        }
        let table = try RouteTable(routes: many)
        #expect(Self.comparedGroups(table.matcher) == 0)
        try RouteAnswers.check(table, [
            (#"{"account":"1","type":"P0:x"}"#, [0]),
            (#"{"account":"1","type":"P\#(CompiledMatcher.comparedAffixLimit):x"}"#, [CompiledMatcher.comparedAffixLimit]),
            (#"{"account":"1","type":"P9"}"#, []),
        ])
    }

    /// Ignore-case affixes beside a case-sensitive one, compared on ASCII leaves (letters
    /// lowered in the word, the other bytes as they are: "@" and "[" sit next to "A" and "Z");
    /// a leaf with other bytes takes the atom lookup (the Kelvin sign lower-cases to "k").
    @Test func ignoreCaseAffixesAreComparedOnASCIILeaves() throws {
        let table = try RouteTable(routes: [
            Self.route("prefix", ["role": ["r"], "type": [["prefix": "Recon:"]]]),
            Self.route("prefix-ignore-case", ["role": ["r"], "type": [["prefix": ["equals-ignore-case": "RECON:"]]]]),
            Self.route("equals-ignore-case", ["role": ["r"], "type": [["equals-ignore-case": "TCP"]]]),
            Self.route("suffix-ignore-case", ["role": ["r"], "type": [["suffix": ["equals-ignore-case": "-KELVIN@[Z]"]]]]),
        ])
        // Where the automaton orders `type` before `role` the root compares it too: at least one.
        let m = table.matcher
        #expect((0..<m.groups.count).contains { m.groups[$0].flags.contains(.comparedIgnoringCase) })
        try RouteAnswers.check(table, [
            (#"{"role":"r","type":"recon:EC2/Portscan"}"#, [1]),
            (#"{"role":"r","type":"Recon:EC2/Portscan"}"#, [0, 1]),
            (#"{"role":"r","type":"RECON:"}"#, [1]),
            (#"{"role":"r","type":"RECON"}"#, []),
            (#"{"role":"r","type":"tcp"}"#, [2]),
            (#"{"role":"r","type":"tCp"}"#, [2]),
            (#"{"role":"r","type":"tcp "}"#, []),
            (#"{"role":"r","type":"TC"}"#, []),
            (#"{"role":"r","type":"x-kelvin@[z]"}"#, [3]),
            (#"{"role":"r","type":"X-KELVIN@[Z]"}"#, [3]),
            (#"{"role":"r","type":"x-kelvin`[z]"}"#, []),
            (#"{"role":"r","type":"x-kelvin@{z}"}"#, []),
            (#"{"role":"r","type":"x-\u212Aelvin@[z]"}"#, [3]),
            (#"{"role":"r","type":"Réçon:x-kelvin@[z]"}"#, [3]),
            (#"{"role":"r","type":"tcp","other":"TCP-TCP-TCP"}"#, [2]),
            (#"{"role":"r","type":["udp","TCP",6]}"#, [2]),
        ])
    }
}
