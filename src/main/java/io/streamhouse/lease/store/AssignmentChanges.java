package io.streamhouse.lease.store;

import io.streamhouse.lease.model.LeaseKey;
import java.util.List;

/**
 * What changed for an agent's incarnation since a version ({@code lease_assignment_changes}):
 * the changed leases it holds now, as {@link LeaseStore#assignments} shows them, and the changed
 * ones it no longer holds. Leases in neither are as the earlier look left them.
 */
public record AssignmentChanges(List<Assignment> held, List<LeaseKey> gone) {
    public AssignmentChanges {
        held = List.copyOf(held);
        gone = List.copyOf(gone);
    }
}
