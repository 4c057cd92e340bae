package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.model.AgentId;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class EndedSessionsTest {

    private final AtomicLong nanos = new AtomicLong();
    private final EndedSessions ended = new EndedSessions(nanos::get);

    static AgentView ready(String id, long epoch) {
        return new AgentView(AgentId.of(id), epoch, "", 1, null, true, true, true);
    }

    @Test
    void anEndedIncarnationTakesAndKeepsNoLeasesWhileItsStreamAgentStillSaysReady() {
        ended.ended(AgentId.of("a"), 3);

        List<AgentView> views = ended.apply(List.of(ready("a", 3), ready("b", 1)));

        assertThat(views.get(0)).isEqualTo(new AgentView(AgentId.of("a"), 3, "", 1, null, true, false, false));
        assertThat(views.get(1)).as("another agent is untouched").isEqualTo(ready("b", 1));
        assertThat(ended.apply(List.of(ready("a", 2)))).as("an older incarnation is over too").extracting(AgentView::acceptsLeases)
                .containsExactly(false);
    }

    @Test
    void aNewIncarnationOfTheSameAgentTakesLeasesAgain() {
        ended.ended(AgentId.of("a"), 3);

        assertThat(ended.apply(List.of(ready("a", 4)))).containsExactly(ready("a", 4));
    }

    @Test
    void aLateReportOfAnOlderEndDoesNotHideANewerOne() {
        ended.ended(AgentId.of("a"), 5);
        ended.ended(AgentId.of("a"), 4);

        assertThat(ended.over(AgentId.of("a"), 5)).isTrue();
    }

    @Test
    void entriesAreForgottenOnceTheStreamAgentHasLongCaughtUp() {
        ended.ended(AgentId.of("a"), 3);
        nanos.addAndGet(EndedSessions.KEEP.toNanos() + 1);

        ended.ended(AgentId.of("b"), 1);

        assertThat(ended.size()).isEqualTo(1);
        assertThat(ended.over(AgentId.of("a"), 3)).isFalse();
        assertThat(ended.over(AgentId.of("b"), 1)).isTrue();
    }
}
