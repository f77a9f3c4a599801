package deploys

import (
	"context"
	"strings"

	"github.com/berth-dev/berth/queue"
)

// publishJob queues job. A job only some workers may take can wait long
// (no such worker may be running), so its log says what it waits for. The
// line is written before the job goes out: once a worker has it, its own
// lines number the log.
func (l *Lifecycle) publishJob(ctx context.Context, job queue.BuildJob) error {
	if len(job.Labels) > 0 {
		what := "the label "
		if len(job.Labels) > 1 {
			what = "the labels "
		}
		l.note(ctx, job.DeploymentID, "Waiting for a worker with "+what+strings.Join(job.Labels, ", ")+".")
	}
	return l.queue.PublishJob(ctx, job)
}
