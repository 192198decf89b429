import Foundation
import SluiceCore
import Synchronization

/// An access key pair, with the session token and expiry of temporary credentials (STS, IMDS).
/// Its description names the key id and the source only: the secret and the token are `Secret`s.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: Secret
    /// Present for temporary credentials; sent as `X-Amz-Security-Token` (signed too).
    public var sessionToken: Secret?
    /// When temporary credentials stop working; nil for long-term keys.
    public var expiration: Date?
    /// Where they came from (`environment`, `profile default`, `web identity`, `instance metadata`): for logs.
    public var source: String

    public init(accessKeyID: String, secretAccessKey: Secret, sessionToken: Secret? = nil, expiration: Date? = nil, source: String = "static") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    public var description: String {
        "AWSCredentials(\(accessKeyID), from \(source)\(expiration.map { ", expires \($0)" } ?? ""))"
    }
}

/// A source of credentials. Implementations are thread-safe; `credentials()` may do I/O.
public protocol AWSCredentialsProvider: Sendable {
    /// Valid credentials, from a cache or fetched now.
    func credentials() async throws(AWSError) -> AWSCredentials
    /// Drops cached credentials (after AWS answered `ExpiredToken`): the next call fetches anew.
    func invalidate()
}

extension AWSCredentialsProvider {
    public func invalidate() {}
}

/// Fixed credentials: from configuration, or for tests.
public struct StaticCredentialsProvider: AWSCredentialsProvider {
    public let value: AWSCredentials
    public init(_ value: AWSCredentials) { self.value = value }
    public func credentials() async throws(AWSError) -> AWSCredentials { value }
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the optional `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialsProvider: AWSCredentialsProvider {
    public let environment: [String: String]
    public init(environment: [String: String]) { self.environment = environment }

    /// Whether the environment holds a key pair at all.
    public static func isConfigured(_ environment: [String: String]) -> Bool {
        !(environment["AWS_ACCESS_KEY_ID"] ?? "").isEmpty && !(environment["AWS_SECRET_ACCESS_KEY"] ?? "").isEmpty
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        guard Self.isConfigured(environment), let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw .credentials("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set", retriable: false)
        }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : Secret($0) }
        return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: token, source: "environment")
    }
}

/// Keeps the credentials another provider fetched and refreshes them `refreshMargin` before
/// they expire. Concurrent callers share one refresh; while it runs, or when it fails, callers
/// still get the old credentials if they have not expired yet.
public final class CachedCredentialsProvider: AWSCredentialsProvider {
    private enum State {
        case empty
        case cached(AWSCredentials)
        case refreshing(Task<Result<AWSCredentials, AWSError>, Never>, previous: AWSCredentials?)
    }

    public let source: any AWSCredentialsProvider
    public let refreshMargin: TimeInterval
    private let now: @Sendable () -> Date
    private let state = Mutex(State.empty)

    /// - Parameters:
    ///   - refreshMargin: how long before expiry to fetch new credentials (5 minutes, like the SDKs).
    ///   - now: the clock (tests pass a fake one).
    public init(_ source: any AWSCredentialsProvider, refreshMargin: TimeInterval = 300, now: @escaping @Sendable () -> Date = { Date() }) {
        self.source = source
        self.refreshMargin = refreshMargin
        self.now = now
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        let time = now()
        enum Step { case use(AWSCredentials), wait(Task<Result<AWSCredentials, AWSError>, Never>, previous: AWSCredentials?) }
        let step: Step = state.withLock { state in
            switch state {
            case .cached(let c) where c.expiration.map({ $0.timeIntervalSince(time) > refreshMargin }) ?? true:
                return .use(c)
            case .refreshing(let task, let previous):
                if let previous, let e = previous.expiration, e > time { return .use(previous) }
                return .wait(task, previous: previous)
            case .cached(let c):
                let task = startRefresh()
                state = .refreshing(task, previous: c)
                return .wait(task, previous: c)
            case .empty:
                let task = startRefresh()
                state = .refreshing(task, previous: nil)
                return .wait(task, previous: nil)
            }
        }
        switch step {
        case .use(let c): return c
        case .wait(let task, let previous):
            switch await task.value {
            case .success(let c): return c
            case .failure(let error):
                if let previous, let e = previous.expiration, e > now() { return previous }
                throw error
            }
        }
    }

    public func invalidate() {
        state.withLock { state in
            if case .refreshing = state { return }  // a refresh is already under way
            state = .empty
        }
        source.invalidate()
    }

    /// Fetches in a task of its own, so a cancelled caller does not cancel the others' refresh.
    private func startRefresh() -> Task<Result<AWSCredentials, AWSError>, Never> {
        Task { [self] in
            let result: Result<AWSCredentials, AWSError>
            do throws(AWSError) { result = .success(try await source.credentials()) } catch { result = .failure(error) }
            self.state.withLock { state in
                switch result {
                case .success(let c): state = .cached(c)
                case .failure:
                    if case .refreshing(_, let previous?) = state { state = .cached(previous) } else { state = .empty }
                }
            }
            return result
        }
    }
}

/// Tries providers in order; the first that yields credentials is used from then on.
/// A provider that throws a non-retriable `.credentials` error is "not configured here" and
/// the next one is tried; any other error stops the chain (a configured source that fails
/// must not silently fall through to another identity).
public final class CredentialsProviderChain: AWSCredentialsProvider {
    public let providers: [any AWSCredentialsProvider]
    private let chosen = Mutex<Int?>(nil)

    public init(_ providers: [any AWSCredentialsProvider]) { self.providers = providers }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        if let i = chosen.withLock({ $0 }) { return try await providers[i].credentials() }
        var reasons: [String] = []
        for (i, provider) in providers.enumerated() {
            do {
                let c = try await provider.credentials()
                chosen.withLock { $0 = i }
                return c
            } catch where error.kind == .credentials && !error.isRetriable {
                reasons.append(error.message)
            }
        }
        throw .credentials("no AWS credentials found: \(reasons.joined(separator: "; "))", retriable: false)
    }

    public func invalidate() {
        if let i = chosen.withLock({ $0 }) { providers[i].invalidate() }
    }
}
