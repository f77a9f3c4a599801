package serving

import (
	"context"
	"log/slog"
	"strings"

	"github.com/berth-dev/berth/store"
)

// Knows reports whether host is a deployment host that answers with
// something of its own: a verified custom domain, a deployment, or a
// project with nothing in production yet (its first deployment is then
// served over HTTPS at once).
// HTTPS asks it before ordering a certificate, so it resolves hosts
// exactly as ServeHTTP does; a name that matches nothing is not known.
func (h *Handler) Knows(ctx context.Context, host string) bool {
	if h.VerifiedDomain(host) {
		return true
	}
	label, ok := h.label(host)
	if !ok {
		return false
	}
	_, err := h.hosts.resolve(ctx, label, h.resolve)
	if err == nil {
		return true
	}
	if store.ErrorCode(err) != store.ENOTFOUND {
		h.log.ErrorContext(ctx, "resolve host", slog.String("host", host), slog.Any("error", err))
		return false
	}
	if label == "" || strings.Contains(label, ".") || previewLabel.MatchString(label) {
		return false
	}
	_, err = h.db.ProjectBySlug(ctx, label)
	return err == nil
}
