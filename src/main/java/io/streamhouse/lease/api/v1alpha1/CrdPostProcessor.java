package io.streamhouse.lease.api.v1alpha1;

import io.fabric8.crdv2.generator.CRDPostProcessor;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import java.util.Comparator;
import java.util.List;

/**
 * Runs at build time on the generated CRDs: the generator sorts printer columns by JSON path,
 * but people read {@code kubectl get} left to right, so they are put back in declaration order
 * (what a person looks for first: topic, partition, holder, epoch, Ready, age).
 */
public class CrdPostProcessor implements CRDPostProcessor {

    private static final List<String> ORDER = List.of(
            "Topic", "Partition", "Holder", "Epoch", "Agent", "Group", "Zone", "Phase", "Leases", "Ready", "Age");

    @Override
    public HasMetadata process(HasMetadata crd, String crdSpecVersion) {
        if (crd instanceof CustomResourceDefinition v1) {
            v1.getSpec().getVersions().forEach(version -> {
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
}
