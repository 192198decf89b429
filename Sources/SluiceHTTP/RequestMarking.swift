/// Headers that every request sent on behalf of the current task (and of the tasks it starts)
/// carries, whoever builds the request: the connector framework marks a replayed delivery
/// (`X-Sluice-Replay`) here once, so no HTTP connector has to remember to add it — the same
/// header reaches a webhook, a chat hook and each call a ticketing connector makes (search,
/// create, comment). Read where `HTTPClient.execute` takes the request, so a callback-based
/// connector marks what it submits inside `withValue`, and a task it starts there inherits it.
public enum RequestMarking {
    @TaskLocal public static var headers: [(name: String, value: String)] = []

    /// `request` with the current marking headers appended, unless it already has a header of
    /// that name (the caller's own wins); unchanged when nothing is marked.
    static func applied(to request: HTTPRequest) -> HTTPRequest {
        let extra = headers
        guard !extra.isEmpty else { return request }
        var marked = request
        for h in extra where !marked.headers.contains(where: { $0.name.lowercased() == h.name.lowercased() }) {
            marked.headers.append(h)
        }
        return marked
    }
}
