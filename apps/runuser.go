package apps

import (
	"context"
	"strings"
)

// defaultRunAs is the numeric uid:gid servers run as when the runtime image
// names no non-root user of its own. Numbers need no /etc/passwd entry
// (distroless Node images have no `node` account), and 1000 is the uid of
// the `node` user of the official Node images, so images laid out for that
// user keep working. The files copied in are owned by it (see
// sandbox.CopyIn), so the app can write beside itself (.next/cache).
const defaultRunAs = "1000:1000"

// runAs returns the user a server in image runs as: the image's own USER
// when it sets a non-root one, else defaultRunAs. Root is never used.
func (s *Manager) runAs(ctx context.Context, image string) (string, error) {
	user, err := s.sb.ImageUser(ctx, image)
	if err != nil {
		return "", err
	}
	if isRoot(user) {
		return defaultRunAs, nil
	}
	return user, nil
}

// isRoot reports whether a USER value ("name", "uid", "name:group",
// "uid:gid") runs as root: unset, uid 0 or the name root.
func isRoot(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "" || name == "0" || name == "root"
}
