package queue

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Jobs of projects that require worker labels travel on subjects and
// consumers of their own label set, so a worker pulls only what it can
// build and no two consumers of the work queue see the same job:
//
//	no labels:        builds.jobs.<deployment>            consumer builders
//	arm64 and big:    builds.jobs.arm64_big.<deployment>  consumer builders_arm64_big
//
// A worker with labels L pulls from the consumer of every subset of L.
// Labels route jobs among cooperating workers; they are not a fence (any
// worker's credentials may pull any builders consumer).

// labelKey joins normalised labels (model.WorkerLabels: sorted, no
// underscore) into one subject token.
func labelKey(labels []string) string { return strings.Join(labels, "_") }

func jobSubject(job BuildJob) string {
	if len(job.Labels) == 0 {
		return SubjectBuildJobs + job.DeploymentID
	}
	return SubjectBuildJobs + labelKey(job.Labels) + "." + job.DeploymentID
}

func buildersConsumer(labels []string) string {
	if len(labels) == 0 {
		return ConsumerBuilders
	}
	return ConsumerBuilders + "_" + labelKey(labels)
}

func buildersFilter(labels []string) string {
	if len(labels) == 0 {
		return SubjectBuildJobs + "*"
	}
	return SubjectBuildJobs + labelKey(labels) + ".*"
}

// declareBuilders creates or updates the builders consumer of one label set.
func declareBuilders(ctx context.Context, js jetstream.JetStream, labels []string, ackWait time.Duration) error {
	_, err := js.CreateOrUpdateConsumer(ctx, StreamBuilds, jetstream.ConsumerConfig{
		Durable:       buildersConsumer(labels),
		FilterSubject: buildersFilter(labels),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1, // the builder itself stops after MaxAttempts and reports why
		MaxAckPending: 1000,
	})
	if err != nil {
		return fmt.Errorf("declare %s consumer: %w", buildersConsumer(labels), err)
	}
	return nil
}

// subsets returns every subset of labels (sorted, so each subset is too),
// the empty one first.
func subsets(labels []string) [][]string {
	out := make([][]string, 0, 1<<len(labels))
	for mask := range 1 << len(labels) {
		var s []string
		for i, l := range labels {
			if mask&(1<<i) != 0 {
				s = append(s, l)
			}
		}
		out = append(out, s)
	}
	return out
}
