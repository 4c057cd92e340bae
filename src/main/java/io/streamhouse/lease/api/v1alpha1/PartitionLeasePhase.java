package io.streamhouse.lease.api.v1alpha1;

/** PartitionLease status.phase: the operator writes it, the agent library and tools read it. */
public enum PartitionLeasePhase {
    /** Not yet decided (new resource, or waiting for the next plan). */
    Pending,
    /** {@code status.holder} holds the lease at {@code status.epoch} with a live session. */
    Held,
    /** Nobody validly holds it; the Held condition says why. */
    Unassigned,
    /** Another PartitionLease already manages this partition. */
    Conflict,
    /** The spec is refused (see the InvalidSpec or SpecImmutable condition). */
    Invalid
}
