package queue

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The NATS cluster configuration berth ships (deploy/cluster) gives the
// worker user exactly workerPermissions(), the same as the embedded
// listener's, and has a berth user with every permission; both passwords
// come from the environment as they are.
func TestClusterConfigMatchesWorkerPermissions(t *testing.T) {
	const berthPassword, workerPassword = "9f2c4e0d7a1b3c5d", "e3b0c44298fc1c14"
	t.Setenv("BERTH_NATS_PASSWORD", berthPassword)
	t.Setenv("BERTH_WORKER_NATS_PASSWORD", workerPassword)
	want := workerPermissions()
	files, err := filepath.Glob("../deploy/cluster/nats-*.conf")
	if err != nil || len(files) != 3 {
		t.Fatalf("deploy/cluster holds %q (%v); want the three nodes' nats-N.conf", files, err)
	}
	names := map[string]bool{}
	for _, file := range files {
		opts, err := server.ProcessConfigFile(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		names[opts.ServerName] = true
		if !opts.JetStream || opts.Cluster.Name == "" || len(opts.Routes) != 3 {
			t.Errorf("%s: jetstream %v, cluster %q with %d routes; want a JetStream node routing to all three", file, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
		}
		if opts.NoAuthUser != "" || opts.Username != "" || opts.Authorization != "" || len(opts.Nkeys) != 0 {
			t.Errorf("%s: authenticates more than the users list", file)
		}
		byName := map[string]*server.User{}
		for _, u := range opts.Users {
			byName[u.Username] = u
		}
		if len(byName) != 2 {
			t.Errorf("%s: users %v; want berth and worker only", file, byName)
		}
		berth, worker := byName[UserBerth], byName[UserWorker]
		if berth == nil || berth.Password != berthPassword || berth.Permissions != nil {
			t.Errorf("%s: the berth user %+v; want password $BERTH_NATS_PASSWORD and every permission", file, berth)
		}
		if worker == nil || worker.Password != workerPassword || worker.Permissions == nil {
			t.Fatalf("%s: the worker user %+v; want password $BERTH_WORKER_NATS_PASSWORD and permissions", file, worker)
		}
		got := worker.Permissions
		if got.Response != nil {
			t.Errorf("%s: the worker may answer requests (%+v); workerPermissions() does not allow it", file, got.Response)
		}
		for _, c := range []struct {
			what      string
			got, want *server.SubjectPermission
		}{
			{"publish", got.Publish, want.Publish},
			{"subscribe", got.Subscribe, want.Subscribe},
		} {
			if !sameSubjects(c.got.Allow, c.want.Allow) || !sameSubjects(c.got.Deny, c.want.Deny) {
				t.Errorf("%s: the worker's %s permissions are allow %q deny %q; workerPermissions() has allow %q deny %q",
					file, c.what, c.got.Allow, c.got.Deny, c.want.Allow, c.want.Deny)
			}
		}
	}
	if len(names) != 3 {
		t.Errorf("server names %v; want three different ones", names)
	}
	if _, err := os.Stat("../deploy/cluster/users.conf"); err != nil {
		t.Error(err)
	}
}

func sameSubjects(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
