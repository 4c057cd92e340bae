package io.streamhouse.lease.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * An agent that may hold partition leases. Kept by the operator for each agent pod (owned by the
 * pod), or applied by hand for agents outside the cluster.
 */
@Group(PartitionLease.GROUP)
@Version(PartitionLease.VERSION)
@ShortNames({"sag", "sagent"})
@AdditionalPrinterColumn(name = "Agent", jsonPath = ".spec.agentId", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Group", jsonPath = ".spec.group", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Zone", jsonPath = ".spec.zone", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Leases", jsonPath = ".status.leaseCount", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class StreamAgent extends CustomResource<StreamAgentSpec, StreamAgentStatus> implements Namespaced {

    /** Pods with this label set to "true" get a StreamAgent. */
    public static final String AGENT_LABEL = "streamhouse.io/agent";
    /** The agent id; without it, the pod's name. */
    public static final String AGENT_ID_ANNOTATION = "streamhouse.io/agent-id";
    public static final String GROUP_ANNOTATION = "streamhouse.io/agent-group";
    public static final String ADDRESS_ANNOTATION = "streamhouse.io/agent-address";
    /** "agent" when the pod runs the agent library and keeps its own session; "operator" (default) otherwise. */
    public static final String DATABASE_USER_ANNOTATION = "streamhouse.io/database-user";
    public static final String SESSION_KEEPER_ANNOTATION = "streamhouse.io/session-keeper";
    public static final String ZONE_NODE_LABEL = "topology.kubernetes.io/zone";

}
