package io.streamhouse.lease.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** One partition of one topic, whose single writer the operator chooses and fences. */
@Group(PartitionLease.GROUP)
@Version(PartitionLease.VERSION)
@ShortNames({"pl", "plz"})
@AdditionalPrinterColumn(name = "Topic", jsonPath = ".spec.topic", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Partition", jsonPath = ".spec.partition", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Holder", jsonPath = ".status.holder", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Epoch", jsonPath = ".status.epoch", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class PartitionLease extends CustomResource<PartitionLeaseSpec, PartitionLeaseStatus> implements Namespaced {

    public static final String GROUP = "streamhouse.io";
    public static final String VERSION = "v1alpha1";
    /**
     * Label version 0.1.0 set to the holder's agent id (its agents watched by it). No longer
     * written: it cost a second API write per move, and agents learn from the database; the
     * operator removes it from a lease once, paced with the status writes.
     */
    public static final String HOLDER_LABEL = "streamhouse.io/holder";

}
