package deploys

import (
	"context"
	"fmt"
)

// DeleteUser removes an account and everything it owns. The account is
// disabled first, so nothing new starts under it (its sessions end, its
// keys are refused); then each project is deleted as a user deleting it
// would (running builds stop, artifacts and app servers are freed through
// the observers); then the account itself.
func (l *Lifecycle) DeleteUser(ctx context.Context, userID string) error {
	if err := l.db.DisableUser(ctx, userID); err != nil {
		return err
	}
	projects, err := l.db.Projects(ctx, userID)
	if err != nil {
		return err
	}
	for _, p := range projects {
		if err := l.DeleteProject(ctx, userID, p); err != nil {
			return fmt.Errorf("delete project %s of user %s: %w", p.ID, userID, err)
		}
	}
	return l.db.DeleteUser(ctx, userID)
}
