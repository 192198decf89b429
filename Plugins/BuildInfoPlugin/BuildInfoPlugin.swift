import Foundation
import PackagePlugin

/// Writes `BuildInfo.commit` (the git commit the binary is built from, `-dirty` with local
/// changes) before every build, so `sluice --version` says what it runs. The file is rewritten
/// only when the value changes, so an unchanged tree recompiles nothing.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("BuildInfo")
        let script = """
            mkdir -p "$1"
            commit=$(git -C "$2" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ "$commit" != unknown ] && [ -n "$(git -C "$2" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
            line="enum BuildInfo { static let commit = \\"$commit\\" }"
            [ "$(cat "$1/BuildInfo.swift" 2>/dev/null)" = "$line" ] || printf '%s\\n' "$line" > "$1/BuildInfo.swift"
            """
        return [
            .prebuildCommand(
                displayName: "Sluice build info (git commit)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "build-info", output.path, context.package.directoryURL.path],
                outputFilesDirectory: output)
        ]
    }
}
