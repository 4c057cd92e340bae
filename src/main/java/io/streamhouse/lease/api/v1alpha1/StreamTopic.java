package io.streamhouse.lease.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A topic of N partitions, each with a single writer the operator chooses and fences, in one
 * resource: no Kubernetes object per partition. Which agent holds each partition is listed on
 * the StreamAgents ({@code status.leases}); this resource counts.
 */
@Group(PartitionLease.GROUP)
@Version(PartitionLease.VERSION)
@ShortNames({"st"})
@AdditionalPrinterColumn(name = "Topic", jsonPath = ".spec.topic", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Partitions", jsonPath = ".spec.partitions", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Held", jsonPath = ".status.held", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class StreamTopic extends CustomResource<StreamTopicSpec, StreamTopicStatus> implements Namespaced {
}
