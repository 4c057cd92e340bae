package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;

/**
 * Whether a group's free partitions should wait a moment for its agents: a StreamAgent with no
 * status yet (just applied, or not looked at since this operator started) would be missing from a
 * plan made now, and every partition that plan gave to the others would be moved to it again, one
 * handoff and one epoch at a time, a second later. Bounded: an agent that never gets a status
 * (its API server writes refused, say) holds nothing back for longer than {@link #SETTLING}.
 * Failovers never wait.
 */
final class Settling {

    /** How long a StreamAgent without a status yet holds back the free partitions of its group. */
    static final Duration SETTLING = Duration.ofSeconds(10);

    private final Clock clock;
    /** When this operator started: its first look at every StreamAgent is due from then. */
    private final Instant startedAt;

    Settling(Clock clock) {
        this.clock = clock;
        this.startedAt = clock.instant();
    }

    /** The group's StreamAgents that hold its free partitions back now; empty when none does. */
    List<String> awaited(Stream<StreamAgent> group) {
        Instant now = clock.instant();
        return group.filter(a -> a.getStatus() == null || a.getStatus().getPhase() == null)
                .filter(a -> {
                    String created = a.getMetadata().getCreationTimestamp();
                    Instant since = created == null ? startedAt : Instant.parse(created);
                    since = since.isBefore(startedAt) ? startedAt : since;
                    return Duration.between(since, now).compareTo(SETTLING) < 0;
                })
                .map(a -> a.getMetadata().getName())
                .sorted()
                .toList();
    }
}
