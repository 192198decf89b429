import SluiceCore
import SluiceGuardDuty
import Testing

/// Runs a suite with the GuardDuty finding model in effect, as the executable registers it at
/// start: SluiceCore alone lints no product's fields (FindingFieldModelRegistrationTests).
struct GuardDutyFindingModelTrait: SuiteTrait, TestTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await FindingFieldModels.withModels([GuardDutyFindingModel.fieldModel]) { try await function() }
    }
}

extension Trait where Self == GuardDutyFindingModelTrait {
    /// The GuardDuty finding model is in effect for the suite's tests.
    static var guardDutyFindingModel: Self { Self() }
}
