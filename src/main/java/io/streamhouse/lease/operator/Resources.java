package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import java.time.Duration;
import java.util.Collection;
import java.util.Comparator;
import java.util.Objects;
import java.util.Optional;

/** Small rules both reconcilers share: who owns a contested name, and when status is patched. */
final class Resources {

    private Resources() {
    }

    static boolean same(HasMetadata a, HasMetadata b) {
        return Objects.equals(a.getMetadata().getNamespace(), b.getMetadata().getNamespace())
                && Objects.equals(a.getMetadata().getName(), b.getMetadata().getName());
    }

    /**
     * Of several resources claiming one thing (a partition, an agent id), the owner is the oldest;
     * ties (same second) go to namespace then name, so every replica agrees.
     */
    static <R extends HasMetadata> Optional<R> oldest(Collection<R> claimants) {
        return claimants.stream().min(Comparator.comparing((R r) -> r.getMetadata().getCreationTimestamp(),
                        Comparator.nullsLast(Comparator.naturalOrder()))
                .thenComparing(r -> r.getMetadata().getNamespace())
                .thenComparing(r -> r.getMetadata().getName()));
    }

    /** Patch status only when it differs from what the resource shows; look again after {@code recheck} if given. */
    static <S, R extends CustomResource<?, S>> UpdateControl<R> finish(R resource, S next, Duration recheck) {
        UpdateControl<R> control;
        if (Objects.equals(next, resource.getStatus())) {
            control = UpdateControl.noUpdate();
        } else {
            resource.setStatus(next);
            control = UpdateControl.patchStatus(resource);
        }
        return recheck == null ? control : control.rescheduleAfter(recheck);
    }
}
