import ArgumentParser
import Foundation
import SluiceFormats
import SluiceRuntime

/// `--config` and `--topic` of the commands that read events from a file (`test`, `test-pattern`,
/// `backtest`): the events are decoded with the limits and format `sluice run` would use.
struct EventReadingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Run configuration (sluice.yaml): events are decoded with its max_message_bytes and max_depth (and actions: settings apply), as `sluice run` would. Default: the built-in defaults.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Read the events as records of this topic of --config: its format: applies (default: recognised per event, as for `run --input`).", valueName: "name"))
    var topic: String?

    func validate() throws {
        if topic != nil && config == nil { throw ValidationError("--topic names a topic of --config: give --config too") }
    }

    /// The run configuration, or the defaults without `--config`; its problems are printed and exit 1.
    func settings() throws -> RunSettings {
        guard let config else { return RunSettings() }
        let settings: RunSettings
        do { settings = try RunSettings.load(configFile: config, environment: ProcessInfo.processInfo.environment) } catch {
            for d in error.items { CLIFiles.fail(d.description) }
            throw ExitCode(1)
        }
        if let topic, !settings.knowsTopic(topic) {
            CLIFiles.fail("--topic: \(topic) is not a topic of \(config) (topics: \(settings.topics.joined(separator: ", ")))")
            throw ExitCode(1)
        }
        return settings
    }

    /// The decoder `sluice run` reads these events with.
    func decoder(_ settings: RunSettings) -> FindingDecoder {
        settings.findingDecoder(topic: topic)
    }
}
