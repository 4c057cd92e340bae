package io.streamhouse.lease.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MetricNamesTest {

    @Test
    void findsTheSelectedFamiliesOnly() {
        assertThat(MetricNames.in("histogram_quantile(0.99, sum by (le) (rate(streamhouse_store_cas_seconds_bucket[5m])))"))
                .containsExactly("streamhouse_store_cas_seconds_bucket");
        assertThat(MetricNames.in("sum(hikaricp_connections_active{pool=\"streamhouse-lease-store\"}) > streamhouse_x"))
                .containsExactly("hikaricp_connections_active", "streamhouse_x");
        assertThat(MetricNames.in("sum by (controller_name) (rate(reconciliations_failure_total[10m])) > 0.1"))
                .containsExactly("reconciliations_failure_total");
        assertThat(MetricNames.in("streamhouse_store_up == 0")).containsExactly("streamhouse_store_up");
        assertThat(MetricNames.in("x{streamhouse_label=\"streamhouse_value\"} != streamhouse_y"))
                .containsExactly("streamhouse_y");
    }
}
