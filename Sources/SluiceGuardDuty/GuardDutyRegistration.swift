import SluiceCore

/// What the engine learns about GuardDuty from this module, registered once at start by the
/// executable (and by tests that exercise it): SluiceCore itself knows no product.
public enum GuardDutyRegistration {
    /// Registers the filter-criteria pattern dialect (`Criterion`) and the finding model the
    /// route lint and template check read. Registering again changes nothing.
    public static func register() {
        PatternDialects.register(GuardDutyCriteria.dialect)
        FindingFieldModels.register(GuardDutyFindingModel.fieldModel)
    }
}
