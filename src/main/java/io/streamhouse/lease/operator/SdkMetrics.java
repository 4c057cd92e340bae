package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetricsV2;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * The Java Operator SDK's reconcile metrics ({@code reconciliations_success_total},
 * {@code reconciliations_failure_total}, {@code reconciliations_execution_duration_seconds}, ...
 * per controller) on the application's registry, given to the SDK here rather than by the
 * Quarkus extension: the extension's own provider hands out a no-op until Micrometer has bound it,
 * and in the packaged (prod) application the SDK asks before that, so none of those metrics was
 * served and StreamHouseReconcileErrors could never fire (quarkus-operator-sdk issue 1385, fixed
 * after the 7.7.3 used here; MonitoringIT checks the packaged operator serves them).
 */
public class SdkMetrics {

    @Produces
    @Singleton
    Metrics operatorSdkMetrics(MeterRegistry registry) {
        return MicrometerMetricsV2.newBuilder(registry).build();
    }
}
