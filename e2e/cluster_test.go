package e2e

import (
	"testing"
)

// TestWorkersOnNATSCluster runs berth the way it spreads builds over
// machines: a three-node NATS JetStream cluster from deploy/cluster, MinIO,
// berth serve against the cluster building nothing itself, and two berth
// workers, each with a data directory and build cache of its own.
func TestWorkersOnNATSCluster(t *testing.T) {
	requireEnv(t, "BERTH_TEST_NATS_SERVER", "BERTH_TEST_S3_ENDPOINT", "BERTH_TEST_S3_ACCESS_KEY", "BERTH_TEST_S3_SECRET_KEY")
	c := startNATSCluster(t)
	t.Run("refusals", func(t *testing.T) { checkClusterRefusals(t, c) })
}
