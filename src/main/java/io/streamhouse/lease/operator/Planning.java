package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.model.LeaseKey;
import jakarta.inject.Singleton;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What the two kinds of lease owner share: one plan per agent group over every lease of the
 * group, PartitionLeases and StreamTopic partitions alike ({@link GroupPlanner}), so that
 * assignment is balanced across both; and what each must know of the other to keep one owner
 * per partition. Each reconciler registers its side when it starts.
 */
@Singleton
public class Planning {

    /** The StreamTopic side, as the PartitionLease side needs it. */
    interface Topics {
        /**
         * The plan's inputs for the partitions the StreamTopics of {@code namespace}/{@code group}
         * own, leaving out the keys in {@code taken} (owned by PartitionLeases; the topics' keys
         * are added to it).
         */
        List<Assigner.LeaseInput> inputs(String namespace, String group, Set<LeaseKey> taken,
                                         java.util.Map<io.streamhouse.lease.model.AgentId, io.streamhouse.lease.assign.AgentView> views);

        /** The StreamTopic covering {@code key} (any namespace: topic keys are global), if any. */
        Optional<StreamTopic> covering(LeaseKey key);

        /** A PartitionLease that owned {@code key} is gone: a StreamTopic covering it takes it. */
        void partitionLeaseGone(LeaseKey key);
    }

    /** The PartitionLease side, as the StreamTopic side needs it. */
    interface PartitionLeases {
        /** Keys of {@code topic} owned by a PartitionLease (accepted and bound to it), with the owner's name. */
        java.util.Map<LeaseKey, String> owned(String topic);

        /** The StreamTopic of {@code topic} is gone: PartitionLeases it refused may now be accepted. */
        void topicGone(String topic);

        /** The plan's inputs for every lease of {@code namespace}/{@code group}, both kinds. */
        List<Assigner.LeaseInput> inputs(String namespace, String group, java.util.Map<io.streamhouse.lease.model.AgentId,
                io.streamhouse.lease.assign.AgentView> views);
    }

    private static final Topics NO_TOPICS = new Topics() {
        @Override
        public List<Assigner.LeaseInput> inputs(String namespace, String group, Set<LeaseKey> taken,
                                                java.util.Map<io.streamhouse.lease.model.AgentId, io.streamhouse.lease.assign.AgentView> views) {
            return List.of();
        }

        @Override
        public Optional<StreamTopic> covering(LeaseKey key) {
            return Optional.empty();
        }

        @Override
        public void partitionLeaseGone(LeaseKey key) {
        }
    };

    final GroupPlanner planner = new GroupPlanner();
    private volatile Topics topics = NO_TOPICS;
    private volatile PartitionLeases partitionLeases = new PartitionLeases() {
        @Override
        public java.util.Map<LeaseKey, String> owned(String topic) {
            return java.util.Map.of();
        }

        @Override
        public void topicGone(String topic) {
        }

        @Override
        public List<Assigner.LeaseInput> inputs(String namespace, String group, java.util.Map<io.streamhouse.lease.model.AgentId,
                io.streamhouse.lease.assign.AgentView> views) {
            return List.of();
        }
    };

    void topics(Topics side) {
        this.topics = side;
    }

    Topics topics() {
        return topics;
    }

    void partitionLeases(PartitionLeases side) {
        this.partitionLeases = side;
    }

    PartitionLeases partitionLeases() {
        return partitionLeases;
    }
}
