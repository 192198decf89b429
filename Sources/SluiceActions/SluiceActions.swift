/// Response actions: executors (one file each, behind one protocol), playbooks, and the safety
/// around them (dry run, approvals, blast-radius guards, audit).
public enum SluiceActions {}
