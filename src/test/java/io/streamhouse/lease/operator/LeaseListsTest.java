package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamhouse.lease.api.v1alpha1.HeldTopic;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.model.LeaseKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How a StreamAgent's status lists its leases: runs per topic, read back exactly, capped in size. */
class LeaseListsTest {

    static LeaseLists.Held held(String topic, int partition, long epoch) {
        return new LeaseLists.Held(LeaseKey.of(topic, partition), epoch);
    }

    @Test
    void consecutivePartitionsAtOneEpochAreOneRun() {
        List<LeaseLists.Held> leases = List.of(held("orders", 7, 4), held("orders", 0, 1), held("orders", 1, 1),
                held("orders", 2, 1), held("orders", 3, 1), held("orders", 5, 1), held("audit", 0, 9));
        LeaseLists.Listing listing = LeaseLists.of(leases);
        assertThat(listing.topics()).containsExactly(new HeldTopic("audit", 1, "0@9"),
                new HeldTopic("orders", 6, "0-3@1,5@1,7@4"));
        assertThat(listing.notListed()).isZero();
        assertThat(new HeldTopic("orders", 6, "0-3@1,5@1,7@4").epochsByPartition()).containsExactly(Map.entry(0, 1L), Map.entry(1, 1L),
                Map.entry(2, 1L), Map.entry(3, 1L), Map.entry(5, 1L), Map.entry(7, 4L));
        assertThat(LeaseLists.of(List.of()).topics()).isEmpty();
        assertThatThrownBy(() -> new HeldTopic("t", 1, "3").epochsByPartition()).isInstanceOf(IllegalArgumentException.class);
    }

    /**
     * The worst case for size: 10,000 partitions of one agent, no two neighbours at one epoch. All
     * listed, read back exactly, and the whole StreamAgent as JSON stays under 256 KiB.
     */
    @Test
    void tenThousandLeasesAtScatteredEpochsFitOneObject() throws Exception {
        List<LeaseLists.Held> leases = new ArrayList<>();
        Map<Integer, Long> expected = new HashMap<>();
        for (int p = 0; p < 10_000; p++) {
            long epoch = 10_000 + (p % 2 == 0 ? p : 3 * p); // five-digit epochs, never equal for neighbours
            leases.add(held("orders-events-by-region", p, epoch));
            expected.put(p, epoch);
        }
        LeaseLists.Listing listing = LeaseLists.of(leases);
        assertThat(listing.notListed()).isZero();
        assertThat(listing.topics()).hasSize(1);
        assertThat(listing.topics().get(0).epochsByPartition()).isEqualTo(expected);

        StreamAgent agent = Fixtures.agent("ns", "a", "agent-a", "default");
        StreamAgentStatus status = new StreamAgentStatus();
        status.setPhase(StreamAgentPhase.Ready);
        status.setLeaseCount(leases.size());
        status.setLeases(listing.topics());
        agent.setStatus(status);
        int bytes = new ObjectMapper().writeValueAsBytes(agent).length;
        System.out.println("StreamAgent with 10,000 leases at scattered epochs: " + bytes + " bytes of JSON");
        assertThat(bytes).isLessThan(256 * 1024);
    }

    @Test
    void pastTheCapWholeTopicsAreLeftOutAndCounted() {
        List<LeaseLists.Held> leases = new ArrayList<>();
        for (int t = 0; t < 30; t++) {
            for (int p = 0; p < 1_000; p++) {
                leases.add(held("topic-" + (100 + t), p, 1 + (p % 2)));
            }
        }
        LeaseLists.Listing listing = LeaseLists.of(leases);
        int listed = listing.topics().stream().mapToInt(HeldTopic::getCount).sum();
        assertThat(listing.notListed()).isPositive();
        assertThat(listed + listing.notListed()).isEqualTo(leases.size());
        int size = listing.topics().stream().mapToInt(h -> h.getTopic().length() + h.getPartitions().length() + 40).sum();
        assertThat(size).isLessThanOrEqualTo(LeaseLists.MAX_BYTES);
        assertThat(listing.topics()).extracting(HeldTopic::getTopic).as("a prefix of the topics, in order")
                .containsExactlyElementsOf(listing.topics().stream().map(HeldTopic::getTopic).sorted().toList())
                .startsWith("topic-100");
    }
}
