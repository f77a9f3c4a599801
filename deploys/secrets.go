package deploys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// SetEnvVar seals value for the project and key and stores it; the value is
// never read back through the API. A nil value keeps the stored one (only
// the target changes).
func (l *Lifecycle) SetEnvVar(ctx context.Context, ownerID, projectID, key string, value *string, target string) (*store.EnvVar, error) {
	if target == "" {
		target = model.TargetAll
	}
	v := &store.EnvVar{Key: key, Target: target}
	switch {
	case value == nil:
		vars, err := l.db.EnvVars(ctx, ownerID, projectID)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(vars, func(e *store.EnvVar) bool { return e.Key == key })
		if i < 0 {
			return nil, store.Errorf(store.ENOTFOUND, "Variable not found.")
		}
		v.Sealed = vars[i].Sealed
	case len(*value) > 64<<10:
		return nil, store.Errorf(store.EINVALID, "A variable's value is limited to 64 KiB.")
	default:
		v.Sealed = l.secrets.Seal([]byte(*value), model.EnvAAD(projectID, key))
	}
	if err := l.db.SetEnvVar(ctx, ownerID, projectID, v); err != nil {
		return nil, err
	}
	return v, nil
}

// openEnv opens the project's variables visible to target's side (build
// or runtime).
func (l *Lifecycle) openEnv(ctx context.Context, ownerID, projectID, skip string) (map[string]string, error) {
	vars, err := l.db.EnvVars(ctx, ownerID, projectID)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, v := range vars {
		if v.Target == skip {
			continue
		}
		plain, err := l.secrets.Open(v.Sealed, model.EnvAAD(projectID, v.Key))
		if err != nil {
			return nil, fmt.Errorf("open env var %s: %w", v.Key, err)
		}
		env[v.Key] = string(plain)
	}
	return env, nil
}

// sealedBuildEnv opens the project's build-time variables and seals them
// again with the worker key, as one JSON object bound to the deployment,
// for the build job.
func (l *Lifecycle) sealedBuildEnv(ctx context.Context, ownerID, projectID, deploymentID string) ([]byte, error) {
	env, err := l.openEnv(ctx, ownerID, projectID, model.TargetRuntime)
	if err != nil || len(env) == 0 {
		return nil, err
	}
	data, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode build env: %w", err)
	}
	return l.cfg.JobSecrets.Seal(data, model.BuildEnvAAD(deploymentID)), nil
}

// RuntimeEnv is a deployment's runtime environment (targets runtime and
// all) as KEY=value pairs for its server container. A fork's deployment
// runs code its author wrote: it gets none.
func (l *Lifecycle) RuntimeEnv(ctx context.Context, d *store.Deployment) ([]string, error) {
	if d.Fork {
		return nil, nil
	}
	owner, err := l.db.ProjectOwner(ctx, d.ProjectID)
	if err != nil {
		return nil, err
	}
	env, err := l.openEnv(ctx, owner, d.ProjectID, model.TargetBuild)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out) // the same variables give the same list: a stopped server is restarted only when they match
	return out, nil
}

// CloneURL is where a project's source is fetched from: its git_url when
// set (mirrors, local paths), else its GitHub repository.
func (l *Lifecycle) CloneURL(p *store.Project) string {
	if p.GitURL != "" {
		return p.GitURL
	}
	if p.GitHubRepo != "" {
		return l.GitHubRepoURL(p.GitHubRepo)
	}
	return ""
}

// GitHubRepoURL is the clone URL of a GitHub repository "owner/name".
func (l *Lifecycle) GitHubRepoURL(fullName string) string {
	return l.cfg.GitHubURL + "/" + fullName + ".git"
}

// RepoToken is the token for a project owner's repository calls: their own
// GitHub token, else the instance's, else "".
func (l *Lifecycle) RepoToken(ctx context.Context, ownerID string) string {
	if own := l.UserGitHubToken(ctx, ownerID); own != "" {
		return own
	}
	return l.cfg.GitHubToken
}

// NewWebhookSecret makes a webhook secret for projectID: the value to show
// its owner once and the sealing to store.
func (l *Lifecycle) NewWebhookSecret(projectID string) (plain string, sealed []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	plain = hex.EncodeToString(b)
	return plain, l.secrets.Seal([]byte(plain), model.WebhookSecretAAD(projectID))
}

// RotateWebhookSecret gives ownerID's project a new webhook secret and
// returns it; the old one stops working at once.
func (l *Lifecycle) RotateWebhookSecret(ctx context.Context, ownerID, projectID string) (string, error) {
	plain, sealed := l.NewWebhookSecret(projectID)
	if err := l.db.SetWebhookSecret(ctx, ownerID, projectID, sealed); err != nil {
		return "", err
	}
	return plain, nil
}

// WebhookSecret opens p's webhook secret; "" when it has none.
func (l *Lifecycle) WebhookSecret(p *store.Project) (string, error) {
	if len(p.WebhookSecret) == 0 {
		return "", nil
	}
	plain, err := l.secrets.Open(p.WebhookSecret, model.WebhookSecretAAD(p.ID))
	if err != nil {
		return "", fmt.Errorf("open webhook secret of %s: %w", p.ID, err)
	}
	return string(plain), nil
}

// UserGitHubToken is the user's own GitHub token from sign-in, or "" (never
// the instance's: it speaks for the user, as when their organisations are
// checked).
func (l *Lifecycle) UserGitHubToken(ctx context.Context, userID string) string {
	if sealed, err := l.db.GitHubToken(ctx, userID); err == nil && len(sealed) > 0 {
		if plain, err := l.secrets.Open(sealed, model.GitHubTokenAAD(userID)); err == nil {
			return string(plain)
		}
	}
	return ""
}

// InstanceGitHubToken is the instance's GitHub token ("" when unset).
func (l *Lifecycle) InstanceGitHubToken() string { return l.cfg.GitHubToken }
