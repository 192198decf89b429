import Foundation
import SluiceCore
import Synchronization
#if canImport(Glibc)
import CSpawn
import Glibc
#endif

/// `exec`: runs a program with the finding JSON on its stdin. The command is an argv list and
/// no shell is involved, so finding text is never parsed as shell syntax. A value is still an
/// argument the program reads, and a program reads `-x` as an option (`tar
/// --checkpoint-action=exec=…` runs a command): an argument whose leading `-` came from a
/// rendered value is refused unless it follows a literal `--` in the argv (the end-of-options
/// marker of getopt and most programs). Write `--` before finding values, or give them in an
/// option written in full (`--instance={{…}}`: the option is yours, the value cannot start another).
///
/// The child gets only the environment variables named in `environment` (plus
/// `SLUICE_FINDING_ID`, `SLUICE_ROUTE`, `SLUICE_RUN_ID`, `SLUICE_STEP`), runs in its own process
/// group, and when `timeout` passes every process it started is killed — its group, and
/// descendants that left it (`setsid`), found by a run token (`SLUICE_EXEC_RUN`) in their
/// environment — with SIGTERM, then SIGKILL after 2 s. stdout and stderr are captured (64 KiB
/// each); a JSON stdout becomes `steps.<name>.output.json`.
///
/// ```yaml
/// - name: collect
///   action: exec
///   params:
///     command: [/opt/ir/collect-evidence.sh, --, "{{detail.resource.instanceDetails.instanceId}}"]
///     environment: [PATH, AWS_REGION]   # allow-list from Sluice's own environment
///     timeout: 60s                      # default 30s
/// ```
/// Exit 0 succeeds; exit 75 (EX_TEMPFAIL) and a timeout are retryable; any other exit fails the step.
public struct ExecActionExecutor: ActionExecutor {
    public static let kind = "exec"
    public static let summary = "Run a program (argv, no shell) with the finding JSON on stdin; timeout, env allow-list"
    public static let parameters = [
        ActionParameter("command", .list, required: true, help: "argv: the program (absolute path or found in PATH) and its arguments"),
        ActionParameter("environment", .list, help: "names of environment variables passed through from Sluice"),
        ActionParameter("timeout", .duration, help: "default 30s; the process group is killed after it"),
    ]
    static let outputCap = 64 * 1024

    let environment: [String: String]

    public init(context: ActionContext) { environment = context.environment }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        PlannedTarget(try program(request))
    }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        try Self.program(request)
    }

    static func program(_ request: ActionRequest) throws(ActionError) -> ActionTarget {
        guard let program = request.parameters.list("command").first, !program.isEmpty else { throw .permanent("command is empty") }
        return ActionTarget(kind: "process", id: program)
    }

    /// The child's environment: the allow-listed variables and the run's identity, nothing else.
    static func childEnvironment(allow: [String], from env: [String: String], request: ActionRequest) -> [String: String] {
        var out: [String: String] = [:]
        for name in allow { if let v = env[name] { out[name] = v } }
        out["SLUICE_FINDING_ID"] = request.findingID
        out["SLUICE_ROUTE"] = request.route
        out["SLUICE_RUN_ID"] = request.runID
        out["SLUICE_STEP"] = request.step
        return out
    }

    static func resolve(_ program: String, path: String?) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Refuses an argument whose leading `-` a rendered value supplied, before a literal `--`.
    /// `written` is the argv as written (templates); without it every argument counts as rendered.
    static func checkOptions(_ argv: [String], written: [PayloadTemplate]?) throws(ActionError) {
        for (i, arg) in argv.enumerated().dropFirst() {
            let source = written.flatMap { i < $0.count ? $0[i].source : nil }
            if (source ?? arg) == "--" { return }
            guard arg.hasPrefix("-") else { continue }
            if source?.hasPrefix("-") == true { continue }  // the operator's own option
            throw .permanent("argument \(i) of command starts with '-' from a rendered value: refused as an option (put it after a '--' argument)")
        }
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let p = request.parameters
        var argv = p.list("command")
        var written: [PayloadTemplate]?
        if case .list(let templates)? = request.templates["command"] { written = templates }
        try Self.checkOptions(argv, written: written)
        guard let program = Self.resolve(argv[0], path: environment["PATH"]) else { throw .permanent("program not found or not executable: \(argv[0])") }
        argv[0] = program
        let command = argv
        let env = Self.childEnvironment(allow: p.list("environment"), from: environment, request: request)
        let timeout = try p.duration("timeout") ?? .seconds(30)
        let input = JSONBuilder(request.finding).serialized()
        let result: ChildResult
        do {
            result = try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(with: Result { try ChildProcessRunner.run(argv: command, environment: env, stdin: input, timeout: timeout, cap: Self.outputCap) })
                }
            }
        } catch {
            throw .permanent("cannot start \(program): \(error)")
        }
        var output: [(key: String, value: JSON)] = [
            ("exit_code", .number(Double(result.exitCode))), ("timed_out", .bool(result.timedOut)),
            ("stdout", .string(result.stdout)), ("stderr", .string(result.stderr)),
        ]
        if let json = try? JSON.parse(result.stdout), case .object = json { output.append(("json", json)) }
        if result.timedOut { throw .retryable("timed out after \(timeout); process group killed") }
        switch result.exitCode {
        case 0: return ActionOutput(.object(output))
        case 75: throw .retryable("exit 75 (temporary failure): \(result.stderr.suffix(300))")
        default: throw .permanent("exit \(result.exitCode): \(result.stderr.suffix(300))")
        }
    }
}

struct ChildResult: Sendable {
    var exitCode: Int32
    var timedOut: Bool
    var stdout: String
    var stderr: String
}

struct SpawnError: Error, CustomStringConvertible {
    var description: String
}

/// posix_spawn with pipes, a new process group, concurrent stdin/stdout/stderr, and a timeout
/// that kills the whole group. Blocking: call from a thread of its own.
enum ChildProcessRunner {
    static func run(argv: [String], environment: [String: String], stdin input: [UInt8], timeout: Duration, cap: Int) throws -> ChildResult {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw SpawnError(description: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else of the router's reaches the command: not its Kafka, HTTP or admin sockets,
        // its audit file, nor the pipes of another command spawned at the same moment (whose
        // writing end, held by this child, would keep that command's reader from its end of file).
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        // Marks every process of this run, wherever it moves (setsid, reparenting): see `ProcessTree`.
        let runToken = "\(ProcessTree.tokenVariable)=\(UUID().uuidString)"
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [strdup(runToken), nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var pid: pid_t = 0
        var rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        // ETXTBSY: a script just written is still open in a child forked meanwhile (until its exec).
        for _ in 0..<40 where rc == ETXTBSY {
            usleep(50_000)
            rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw SpawnError(description: String(cString: strerror(rc)))
        }
        let writer = Thread { [fd = inPipe[1]] in
            signal(SIGPIPE, SIG_IGN)  // a child that does not read its stdin must not kill us
            var offset = 0
            while offset < input.count {
                let n = input[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                offset += n
            }
            close(fd)
        }
        writer.start()
        let stdout = PipeCollector(fd: outPipe[0], cap: cap)
        let stderr = PipeCollector(fd: errPipe[0], cap: cap)
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        var timedOut = false
        var killedAt: ContinuousClock.Instant?
        let grace = Duration.seconds(2)
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 { break }
            let now = ContinuousClock.now
            if now >= deadline, killedAt == nil {
                timedOut = true
                ProcessTree.signal(SIGTERM, group: pid, token: runToken)
                killedAt = now
            } else if let k = killedAt, now - k > grace {
                ProcessTree.signal(SIGKILL, group: pid, token: runToken)
            }
            usleep(10_000)
        }
        if let killedAt {
            // The child is gone; what it started may not be. Their grace ends with the child's.
            while !ProcessTree.members(group: pid, token: runToken).isEmpty && ContinuousClock.now - killedAt < grace { usleep(10_000) }
            ProcessTree.signal(SIGKILL, group: pid, token: runToken)
        }
        let out = stdout.wait(), err = stderr.wait()
        let exited = (status & 0x7f) == 0
        let code: Int32 = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ChildResult(exitCode: code, timedOut: timedOut, stdout: out, stderr: err)
    }
}

/// The processes an exec step started: its process group, and every live process whose
/// environment carries the run's token (inherited through fork, exec and `setsid`, and kept
/// when the process is reparented to init). A program that clears its whole environment and
/// leaves the group escapes; containers (a cgroup per run) are the stronger tool for that.
enum ProcessTree {
    static let tokenVariable = "SLUICE_EXEC_RUN"

    /// Live (not zombie) processes of the group `group` or carrying `token` (`NAME=value`).
    static func members(group: pid_t, token: String) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let needle = Array(token.utf8) + [0]
        var out: [pid_t] = []
        for name in entries {
            guard let pid = pid_t(name), pid != getpid() else { continue }
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "pid (comm)": state ppid pgrp …; comm may contain spaces and parentheses.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z" else { continue }
            if pid_t(fields[2]) == group {
                out.append(pid)
            } else if let environ = readWhole("/proc/\(pid)/environ"),
                      (environ.starts(with: needle) || environ.range(of: Data([0] + needle)) != nil) {
                out.append(pid)
            }
        }
        return out
    }

    /// A /proc file read to its end. Foundation's `contents(atPath:)` keeps only the first read of
    /// a file /proc reports as empty (one 4 KB page of /proc/net/tcp, measured); environ answers
    /// whole in one read today, which is nothing to rely on.
    static func readWhole(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return try? handle.readToEnd()
    }

    static func signal(_ signal: Int32, group: pid_t, token: String) {
        kill(-group, signal)
        for pid in members(group: group, token: token) { kill(pid, signal) }
    }
}

/// Reads a pipe to its end on a thread of its own, keeping the first `cap` bytes.
final class PipeCollector: Sendable {
    private let data = Mutex<[UInt8]>([])
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32, cap: Int) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                data.withLock { d in if d.count < cap { d += buffer[0..<min(n, cap - d.count)] } }
            }
            close(fd)
            done.signal()
        }
    }

    func wait() -> String {
        // A grandchild that kept the pipe open must not hang us forever.
        _ = done.wait(timeout: .now() + 5)
        return String(decoding: data.withLock { $0 }, as: UTF8.self)
    }
}
