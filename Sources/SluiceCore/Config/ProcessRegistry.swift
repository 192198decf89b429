import Synchronization

/// What the layers above SluiceCore registered at start (pattern dialects, finding models): a
/// process-wide list, one entry per type, that a task may replace for itself and the tasks it
/// starts (`with`) — so code that must not depend on what others registered (a test of either
/// path) says what it reads.
public final class ProcessRegistry<Element: Sendable>: Sendable {
    private let registered = Mutex<[Element]>([])
    private let chosen = TaskLocal<[Element]?>(wrappedValue: nil)

    public init() {}

    /// Adds `element` (once per type: registering again changes nothing).
    public func register(_ element: Element) {
        registered.withLock { all in
            let kind = ObjectIdentifier(type(of: element as Any))
            if !all.contains(where: { ObjectIdentifier(type(of: $0 as Any)) == kind }) { all.append(element) }
        }
    }

    /// The entries in effect: this task's choice, else what the process registered.
    public var current: [Element] { chosen.get() ?? registered.withLock { $0 } }

    /// Runs `body` with exactly `elements` in effect, whatever the process registered.
    public func with<T>(_ elements: [Element], _ body: () throws -> T) rethrows -> T {
        try chosen.withValue(elements, operation: body)
    }

    /// The async form of `with`, for test scopes.
    public func with<T>(_ elements: [Element], isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async rethrows -> T {
        try await chosen.withValue(elements, operation: body, isolation: isolation)
    }
}
