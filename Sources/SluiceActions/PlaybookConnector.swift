import SluiceConnectors
import SluiceCore

/// The playbook runner seen by the delivery pipeline: a `Connector` whose lane gives playbook
/// runs the framework's at-least-once semantics, retries and dead-lettering. `Delivery.payload`
/// is the finding's bytes; `Delivery.route` selects the playbook.
///
/// Outcomes: a completed, parked (approval), denied, refused or duplicate run is `.delivered`
/// (its story is in the audit trail). A failed run is `.retryable` only when its error is
/// retryable and no step had changed anything yet — re-running a playbook that already changed
/// something could act twice — otherwise `.permanent`, so the finding goes to the dead-letter
/// topic with the failing step named.
public final class PlaybookConnector: Connector {
    public let runner: PlaybookRunner

    public init(runner: PlaybookRunner) { self.runner = runner }

    public func deliver(_ delivery: Delivery, completion: @escaping @Sendable (DeliveryOutcome) -> Void) {
        let runner = self.runner
        Task {
            completion(Self.classify(await runner.run(route: delivery.route, payload: delivery.payload)))
        }
    }

    public static func classify(_ outcome: PlaybookRunner.Outcome) -> DeliveryOutcome {
        switch outcome {
        case .completed, .parked, .denied, .refused, .duplicate: return .delivered
        case .failed(let step, let error, let changed):
            let message = "playbook step '\(step)': \(error.message)"
            return error.retryable && !changed ? .retryable(message) : .permanent(message)
        }
    }
}
