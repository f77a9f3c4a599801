package model

// Additional data that binds each kind of sealed secret to its one use, so a
// sealed value copied elsewhere (another project, another deployment, another
// field) fails to open.

// EnvAAD binds a stored env var value to its project and key.
func EnvAAD(projectID, key string) []byte { return []byte(projectID + "\x00" + key) }

// BuildEnvAAD binds a build job's sealed build-time environment to its deployment.
func BuildEnvAAD(deploymentID string) []byte { return []byte(deploymentID) }

// GitTokenAAD binds a build job's sealed clone token to its deployment.
func GitTokenAAD(deploymentID string) []byte { return []byte("git-token\x00" + deploymentID) }

// GitHubTokenAAD binds a user's stored GitHub token to the user.
func GitHubTokenAAD(userID string) []byte { return []byte("github-token\x00" + userID) }

// WebhookSecretAAD binds a project's stored webhook secret to the project.
func WebhookSecretAAD(projectID string) []byte { return []byte("webhook-secret\x00" + projectID) }
