package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// owner is a numeric uid and gid inside a container.
type owner struct{ uid, gid int }

// maxAccountFile bounds how much of /etc/passwd or /etc/group is read from an image.
const maxAccountFile = 1 << 20

// fileOwner resolves Spec.User ("name", "uid", "name:group", "uid:gid") against the image's
// own /etc/passwd and /etc/group, read from the created container. The engine's own
// CopyUIDGID option cannot be used: Debian's engine looks names up on the host. It returns
// nil for root, whose ownership the tar streams already carry.
func (s *Sandbox) fileOwner(ctx context.Context, id, user string) (*owner, error) {
	if user == "" {
		return nil, nil
	}
	name, group, hasGroup := strings.Cut(user, ":")
	o := owner{}
	if uid, err := strconv.Atoi(name); err == nil {
		o.uid = uid
		// The primary group of a numeric user comes from passwd if it is listed there.
		if entry, err := s.accountEntry(ctx, id, "/etc/passwd", 2, name); err == nil && entry != nil {
			o.gid, _ = strconv.Atoi(entry[3])
		}
	} else {
		entry, err := s.accountEntry(ctx, id, "/etc/passwd", 0, name)
		if err != nil {
			return nil, err
		}
		if entry == nil {
			return nil, fmt.Errorf("user %q is not in the image's /etc/passwd", name)
		}
		o.uid, _ = strconv.Atoi(entry[2])
		o.gid, _ = strconv.Atoi(entry[3])
	}
	if hasGroup {
		if gid, err := strconv.Atoi(group); err == nil {
			o.gid = gid
		} else {
			entry, err := s.accountEntry(ctx, id, "/etc/group", 0, group)
			if err != nil {
				return nil, err
			}
			if entry == nil {
				return nil, fmt.Errorf("group %q is not in the image's /etc/group", group)
			}
			o.gid, _ = strconv.Atoi(entry[2])
		}
	}
	if o.uid == 0 && o.gid == 0 {
		return nil, nil
	}
	return &o, nil
}

// accountEntry returns the fields of the first line of an /etc/passwd-style file whose field
// col equals value, or nil.
func (s *Sandbox) accountEntry(ctx context.Context, id, file string, col int, value string) ([]string, error) {
	b, err := s.ReadFile(ctx, id, file, maxAccountFile)
	if err != nil {
		return nil, fmt.Errorf("look up %q: %w", value, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && fields[col] == value {
			return fields, nil
		}
	}
	return nil, nil
}

// ImageUser returns the USER of an image's config ("" when it sets none).
func (s *Sandbox) ImageUser(ctx context.Context, ref string) (string, error) {
	info, err := s.docker.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if info.Config == nil {
		return "", nil
	}
	return info.Config.User, nil
}
