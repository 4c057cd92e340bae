package io.streamhouse.lease.api.v1alpha1;

/** StreamAgent status.phase: the operator writes it, the agent library and tools read it. */
public enum StreamAgentPhase {
    /** Its session is live and it may hold leases. */
    Ready,
    /** Its leases are being moved away (pod terminating, or cordoned). */
    Draining,
    /** Its session expired, or its pod is gone or not ready. */
    Lost,
    /** Its agent id is used by another StreamAgent. */
    Conflict,
    /** The spec is refused. */
    Invalid
}
