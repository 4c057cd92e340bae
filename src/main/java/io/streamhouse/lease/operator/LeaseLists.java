package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.HeldTopic;
import io.streamhouse.lease.model.LeaseKey;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An agent's leases as its StreamAgent status lists them: per topic, runs of consecutive
 * partitions held at one epoch ({@code 0-3@1,7@4}), so the status grows with the number of runs,
 * not of partitions. Capped in size: an object must stay well under etcd's 1.5 MiB limit whatever
 * an agent holds, so topics past {@link #MAX_BYTES} are left out and counted instead.
 */
final class LeaseLists {

    /** The most the list may take in the status (its JSON strings, roughly); 10,000 leases at distinct epochs take ~120 KiB. */
    static final int MAX_BYTES = 128 * 1024;

    /** One lease as listed. */
    record Held(LeaseKey key, long epoch) {
    }

    /** The listed topics, in topic order, and how many leases did not fit. */
    record Listing(List<HeldTopic> topics, int notListed) {
    }

    private LeaseLists() {
    }

    static Listing of(Collection<Held> leases) {
        return of(leases, MAX_BYTES);
    }

    static Listing of(Collection<Held> leases, int maxBytes) {
        Map<String, List<Held>> byTopic = new LinkedHashMap<>();
        leases.stream().sorted(Comparator.comparing((Held h) -> h.key().topic())
                        .thenComparingInt(h -> h.key().partition()))
                .forEach(h -> byTopic.computeIfAbsent(h.key().topic(), t -> new ArrayList<>()).add(h));
        List<HeldTopic> topics = new ArrayList<>();
        int bytes = 0;
        int notListed = 0;
        for (Map.Entry<String, List<Held>> e : byTopic.entrySet()) {
            String runs = runs(e.getValue());
            // The strings dominate; 40 bytes cover the field names and punctuation of one entry.
            int size = e.getKey().getBytes(StandardCharsets.UTF_8).length + runs.length() + 40;
            if (notListed > 0 || bytes + size > maxBytes) {
                notListed += e.getValue().size();
                continue;
            }
            bytes += size;
            topics.add(new HeldTopic(e.getKey(), e.getValue().size(), runs));
        }
        return new Listing(topics, notListed);
    }

    /** {@code first[-last]@epoch} runs, comma-separated; {@code sorted} is one topic's leases in partition order. */
    static String runs(List<Held> sorted) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < sorted.size()) {
            Held first = sorted.get(i);
            int j = i;
            while (j + 1 < sorted.size() && sorted.get(j + 1).key().partition() == sorted.get(j).key().partition() + 1
                    && sorted.get(j + 1).epoch() == first.epoch()) {
                j++;
            }
            if (out.length() > 0) {
                out.append(',');
            }
            out.append(first.key().partition());
            if (j > i) {
                out.append('-').append(sorted.get(j).key().partition());
            }
            out.append('@').append(first.epoch());
            i = j + 1;
        }
        return out.toString();
    }
}
