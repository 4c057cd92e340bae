package io.streamhouse.lease.api.v1alpha1;

import io.fabric8.crdv2.generator.CRDPostProcessor;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Runs at build time on the generated CRDs: the generator sorts printer columns by JSON path,
 * but people read {@code kubectl get} left to right, so they are put back in declaration order
 * (what a person looks for first: topic, partition, holder, epoch, Ready, age). It also gives the
 * object, spec and status their descriptions, which the generator cannot take from the classes
 * (spec and status are inherited fields), so that {@code kubectl explain} is useful at every level.
 */
public class CrdPostProcessor implements CRDPostProcessor {

    private static final List<String> ORDER = List.of(
            "Topic", "Partition", "Partitions", "Holder", "Epoch", "Held", "Agent", "Group", "Zone", "Phase", "Leases",
            "Ready", "Age");

    /** {@code kubectl get streamhouse} lists every resource of ours. */
    static final String CATEGORY = "streamhouse";

    private static final Map<String, List<String>> DESCRIPTIONS = Map.of(
            "PartitionLease", List.of(
                    "One partition of one topic. The operator chooses the single agent that may write it,"
                            + " records the choice in PostgreSQL with a fencing epoch, and shows it in status.",
                    "What you ask for: the partition, the group of agents that may write it, and options.",
                    "A projection of the lease row in PostgreSQL: holder, epoch and conditions."),
            "StreamAgent", List.of(
                    "An agent that may hold partition leases: kept by the operator for each agent pod (owned by"
                            + " the pod), or applied by hand for agents outside the cluster.",
                    "Identity and placement of the agent, and how many leases it should take.",
                    "The agent's session as the operator last saw it; written only when something changes."),
            "StreamTopic", List.of(
                    "A topic of N partitions in one resource. The operator keeps a lease row per partition in"
                            + " PostgreSQL, chooses the single agent that may write each, and fences it with an epoch;"
                            + " no Kubernetes object is created per partition.",
                    "What you ask for: the topic, its number of partitions (it may only grow), the group of agents"
                            + " that may write them, and options.",
                    "Counts of the topic's partitions (held, unassigned, per agent). Which agent holds which partition,"
                            + " at which epoch, is listed on the StreamAgents (status.leases)."));

    @Override
    public HasMetadata process(HasMetadata crd, String crdSpecVersion) {
        if (crd instanceof CustomResourceDefinition v1) {
            List<String> texts = DESCRIPTIONS.get(v1.getSpec().getNames().getKind());
            v1.getSpec().getNames().setCategories(List.of(CATEGORY));
            v1.getSpec().getVersions().forEach(version -> {
                JSONSchemaProps root = version.getSchema() == null ? null : version.getSchema().getOpenAPIV3Schema();
                if (texts != null && root != null) {
                    root.setDescription(texts.get(0));
                    describe(root, "spec", texts.get(1));
                    describe(root, "status", texts.get(2));
                }
                List<CustomResourceColumnDefinition> columns = version.getAdditionalPrinterColumns();
                if (columns != null) {
                    columns.sort(Comparator.comparingInt(c -> {
                        int index = ORDER.indexOf(c.getName());
                        return index < 0 ? ORDER.size() : index;
                    }));
                }
            });
        }
        return crd;
    }

    private static void describe(JSONSchemaProps root, String property, String description) {
        JSONSchemaProps schema = root.getProperties() == null ? null : root.getProperties().get(property);
        if (schema != null) {
            schema.setDescription(description);
        }
    }
}
