import Crypto
import Foundation

/// What a token may do. Each role includes the ones below it.
public enum AdminRole: String, Codable, Sendable, Comparable, CaseIterable {
    /// Reads: status, routes, connectors, findings, test, the dashboard's data.
    case viewer
    /// Day-to-day writes: silences, approvals, replays.
    case `operator`
    /// Configuration: reload.
    case admin

    var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (a: AdminRole, b: AdminRole) -> Bool { a.rank < b.rank }
}

/// A caller the server recognised.
public struct AdminPrincipal: Sendable, Equatable {
    /// The token's name: what the audit log records (never the token).
    public var name: String
    public var role: AdminRole
}

/// Bearer tokens and their roles. Only SHA-256 digests of the tokens are kept, and lookups
/// compare every digest in constant time, so neither memory dumps nor response timing reveal a
/// token. There is no default token: with none configured, reads are open and writes refused.
public struct AccessControl: Sendable {
    struct Entry: Sendable {
        var name: String
        var role: AdminRole
        var digest: [UInt8]
    }
    let entries: [Entry]

    public var isEmpty: Bool { entries.isEmpty }

    public init() { entries = [] }

    /// Parses tokens, one per line: `NAME ROLE TOKEN` (blank lines and `#` comments skipped).
    /// Errors name the line, never the token.
    public init(text: String, origin: String) throws(AdminConfigError) {
        var entries: [Entry] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3 else {
                throw AdminConfigError("\(origin):\(i + 1): expected NAME ROLE TOKEN")
            }
            guard let role = AdminRole(rawValue: String(fields[1])) else {
                throw AdminConfigError("\(origin):\(i + 1): role must be viewer, operator or admin")
            }
            let token = String(fields[2])
            guard token.utf8.count >= 16 else {
                throw AdminConfigError("\(origin):\(i + 1): token of '\(fields[0])' is shorter than 16 characters")
            }
            guard !entries.contains(where: { $0.name == String(fields[0]) }) else {
                throw AdminConfigError("\(origin):\(i + 1): token name '\(fields[0])' appears twice")
            }
            entries.append(Entry(name: String(fields[0]), role: role, digest: Array(SHA256.hash(data: Array(token.utf8)))))
        }
        self.entries = entries
    }

    /// Tokens from `file` (if any) and from the environment variable `SLUICE_ADMIN_TOKENS`
    /// (entries separated by `;` or newlines, each `NAME ROLE TOKEN`).
    public static func load(file: String?, environment: [String: String]) throws(AdminConfigError) -> AccessControl {
        var text = ""
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw AdminConfigError("admin tokens file \(file): cannot read")
            }
            text += String(decoding: data, as: UTF8.self) + "\n"
        }
        var result = try AccessControl(text: text, origin: file ?? "tokens")
        if let env = environment["SLUICE_ADMIN_TOKENS"] {
            let fromEnv = try AccessControl(text: env.replacingOccurrences(of: ";", with: "\n"), origin: "SLUICE_ADMIN_TOKENS")
            for entry in fromEnv.entries {
                guard !result.entries.contains(where: { $0.name == entry.name }) else {
                    throw AdminConfigError("SLUICE_ADMIN_TOKENS: token name '\(entry.name)' is also in the tokens file")
                }
            }
            result = AccessControl(entries: result.entries + fromEnv.entries)
        }
        return result
    }

    init(entries: [Entry]) { self.entries = entries }

    /// The principal holding `token`, or nil.
    public func principal(token: String) -> AdminPrincipal? {
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Entry?
        for entry in entries {
            // Every entry is compared in full: the time taken does not depend on which one matched.
            var difference: UInt8 = 0
            for (a, b) in zip(entry.digest, digest) { difference |= a ^ b }
            if difference == 0 { found = entry }
        }
        return found.map { AdminPrincipal(name: $0.name, role: $0.role) }
    }
}

/// A problem with the admin settings, fit to print; it never contains a token.
public struct AdminConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
