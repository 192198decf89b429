import SluiceFormats

extension RunSettings {
    /// The decoder `sluice run` reads a record of `topic` with (nil: offline input, always `auto`):
    /// the configuration's `max_message_bytes` and `max_depth`, and the topic's `format:`.
    /// `test`, `test-pattern` and `backtest` take it from here, so one configuration means one
    /// normalisation whatever the command (issue 11.2).
    public func findingDecoder(topic: String?) -> FindingDecoder {
        FindingDecoder(limits: pipeline.decodeLimits, format: topic.flatMap { pipeline.formats[$0] } ?? .auto)
    }

    /// Whether `topic` is one of the configuration's topics (`--topic` of the commands that read
    /// a file as that topic's records).
    public func knowsTopic(_ topic: String) -> Bool { topics.contains(topic) }
}
