import Logging
import ServiceLifecycle

/// `--watch`: reloads when the route or connector files change, as SIGHUP would. It compares
/// the directories' content hash (the one `/api/v1/status` shows) once a second rather than
/// waiting on inotify: Kubernetes updates a mounted ConfigMap by swapping a symlink, which
/// file watches miss, and hashing two small directories a second costs nothing. A change that
/// fails validation is reported once (the running configuration stays) and tried again only
/// when the files change again.
struct ConfigWatcher: Service, CustomStringConvertible {
    let description = "config watcher"
    let directories: [String]
    let interval: Duration
    let reload: @Sendable () async -> Void
    let logger: Logger

    func run() async throws {
        var seen = AdminBridge.configHash(directories: directories)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            // Ends at once on shutdown, not at the next tick.
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
            let now = AdminBridge.configHash(directories: directories)
            guard now != seen else { continue }
            seen = now
            logger.info("configuration files changed: reloading", metadata: ["sluice.config_hash": "\(now)"])
            await reload()
        }
    }
}
