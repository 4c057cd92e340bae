package io.streamhouse.lease.assign;

import java.util.Collection;

/** The reference Assigner's plan, for the plan bench's side-by-side figure (the class itself is package-private). */
public final class ReferencePlans {

    private ReferencePlans() {
    }

    public static Assigner.Plan plan(Collection<Assigner.LeaseInput> leases, Collection<Assigner.AgentInput> agents) {
        return ReferenceAssigner.plan(leases, agents);
    }
}
