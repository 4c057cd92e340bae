package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import java.time.Duration;
import java.util.Collection;
import java.util.Comparator;
import java.util.Objects;
import java.util.Optional;
import java.util.function.UnaryOperator;

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

    /**
     * Writes status only when it differs from what the resource shows, then looks again after
     * {@code recheck} if given. The write is one JSON patch replacing the whole status (no read
     * first: JOSDK's own status patch GETs the resource to compute a diff, which doubled the
     * requests of every lease move) and its answer goes into the controller's cache, so that
     * the next reconcile sees it and our own change does not come back as an event. Last writer
     * wins, as with JOSDK's patch: status is written by the leader alone and derived from the store.
     */
    static <S, R extends CustomResource<?, S>> UpdateControl<R> finish(R resource, S next, Duration recheck,
                                                                      Context<R> context) {
        if (!Objects.equals(next, resource.getStatus())) {
            String patch = "[{\"op\":\"add\",\"path\":\"/status\",\"value\":"
                    + context.getClient().getKubernetesSerialization().asJson(next) + "}]";
            patchAndCache(context, resource, r -> context.getClient().resource(r)
                    .subresource("status").patch(PatchContext.of(PatchType.JSON), patch));
        }
        UpdateControl<R> control = UpdateControl.noUpdate();
        return recheck == null ? control : control.rescheduleAfter(recheck);
    }

    /**
     * As {@link #finish(CustomResource, Object, Duration, Context)}, for a recheck that is a delay
     * from a moment before the write ({@code measuredFrom}, {@link System#nanoTime()}), such as a
     * session's expiry as read: JOSDK starts a reschedule's delay when the reconcile returns, so
     * without this the look would come late by the status write's time (0.2-0.9 s on a loaded
     * API server, seen in the bench).
     */
    static <S, R extends CustomResource<?, S>> UpdateControl<R> finish(R resource, S next, Duration recheck,
                                                                      long measuredFrom, Context<R> context) {
        UpdateControl<R> control = finish(resource, next, null, context);
        return recheck == null ? control : control.rescheduleAfter(remaining(recheck, measuredFrom, System.nanoTime()));
    }

    /** What is left of {@code delay} counted from {@code from} at {@code now} (nanoTime), at least 1 ms. */
    static Duration remaining(Duration delay, long from, long now) {
        Duration left = delay.minusNanos(now - from);
        return left.compareTo(MIN_DELAY) < 0 ? MIN_DELAY : left;
    }

    private static final Duration MIN_DELAY = Duration.ofMillis(1);

    /**
     * Writes {@code resource} with {@code patch} and puts the answer into the controller's cache
     * (so the next reconcile sees it and our own change is no event). Returns the resource as
     * written, or {@code resource} itself when it was deleted meanwhile (nothing left to write).
     */
    static <R extends HasMetadata> R patchAndCache(Context<R> context, R resource, UnaryOperator<R> patch) {
        try {
            return context.resourceOperations().resourcePatch(resource, r -> {
                R written = patch.apply(r);
                if (written == null) {
                    throw new Gone();
                }
                return written;
            }, context.eventSourceRetriever().getControllerEventSource());
        } catch (RuntimeException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof Gone || t instanceof KubernetesClientException k && k.getCode() == 404) {
                    return resource; // deleted while we reconciled: its cleanup runs next
                }
            }
            throw e;
        }
    }

    /** The resource disappeared between reading and writing it. */
    private static final class Gone extends RuntimeException {
        Gone() {
            super("resource deleted meanwhile", null, false, false);
        }
    }
}
