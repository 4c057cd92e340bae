package io.streamhouse.lease.api.v1alpha1;

/** Who renews an agent's database session (see StreamAgentSpec.sessionKeeper). */
public enum SessionKeeper {
    /** The operator, while the agent's pod is Ready; the agent process does not talk to the database about leases. */
    Operator,
    /** The agent itself, through the agent library; it can also release leases when asked to hand off. */
    Agent
}
