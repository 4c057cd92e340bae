package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.ChangeFeed;
import io.streamhouse.lease.testing.RecordingListener;
import java.lang.reflect.Method;
import org.junit.jupiter.api.Test;

/**
 * The fan-out passes on every call of the feed's listener. A call it does not override is a
 * default no-op that silently never reaches a reconciler: the lease reconciler then never saw
 * the end of a batch (its nudges never sent) nor a session's end, and only the StreamAgent path,
 * an API round trip later, kept the tests green.
 */
class ChangeNotificationsTest {

    @Test
    void overridesEveryCallOfTheListener() throws NoSuchMethodException {
        for (Method m : ChangeFeed.Listener.class.getMethods()) {
            assertThat(ChangeNotifications.class.getDeclaredMethod(m.getName(), m.getParameterTypes()))
                    .as("ChangeNotifications passes on %s", m.getName()).isNotNull();
        }
    }

    @Test
    void passesOnEveryCallInOrder() {
        ChangeNotifications fanOut = new ChangeNotifications(null);
        RecordingListener recorded = new RecordingListener();
        fanOut.subscribe(recorded);

        fanOut.sessionEnded(AgentId.of("a"), 4);
        fanOut.sessionChanged(AgentId.of("a"));
        fanOut.leaseChanged(new ChangeFeed.LeaseChange(LeaseKey.of("t", 0), 2, null, AgentId.of("a")));
        fanOut.endOfBatch();
        fanOut.resynced();

        assertThat(recorded.reports).containsExactly("ended a 4", "session a", "lease t/0 null", "|", "resynced");
    }
}
