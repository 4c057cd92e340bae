package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** Status shared by our resources: Kubernetes-convention conditions plus observedGeneration. */
public abstract class ConditionedStatus {

    @JsonPropertyDescription("metadata.generation of the spec this status describes.")
    private Long observedGeneration;

    @JsonPropertyDescription("Current state as conditions (type, status, reason, message, lastTransitionTime).")
    private List<Condition> conditions = new ArrayList<>();

    public Long getObservedGeneration() {
        return observedGeneration;
    }

    public void setObservedGeneration(Long observedGeneration) {
        this.observedGeneration = observedGeneration;
    }

    public List<Condition> getConditions() {
        return conditions;
    }

    public void setConditions(List<Condition> conditions) {
        this.conditions = conditions == null ? new ArrayList<>() : conditions;
    }

    /** The condition of that type, or null. */
    public Condition condition(String type) {
        return conditions.stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
    }

    protected boolean sameConditions(ConditionedStatus other) {
        return Objects.equals(observedGeneration, other.observedGeneration)
                && Objects.equals(conditions, other.conditions);
    }
}
