package store

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/model"
)

var (
	slugInvalid = regexp.MustCompile(`[^a-z0-9]+`)
	envKeyRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	repoRe      = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
)

// Slugify turns a project name into a host label: lowercase letters, digits
// and single dashes, at most 40 characters, never ending in "-preview"
// (those hosts belong to deployments).
func Slugify(name string) string {
	s := strings.Trim(slugInvalid.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	for strings.HasSuffix(s, "-preview") {
		s = strings.TrimRight(strings.TrimSuffix(s, "-preview"), "-")
	}
	if s == "" {
		s = "project"
	}
	return s
}

// Validate reports the first problem with p as an EINVALID error.
func (p *Project) Validate() error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || utf8.RuneCountInString(p.Name) > 100 {
		return Errorf(EINVALID, "A project needs a name of 1 to 100 characters.")
	}
	if p.GitURL != "" {
		// Who may use which kind of URL is decided where it is written
		// (the API knows the caller); here any kind berth can fetch passes.
		if err := ValidateGitURL(p.GitURL, true); err != nil {
			return err
		}
	}
	if p.GitHubRepo != "" && !ValidGitHubRepo(p.GitHubRepo) {
		return Errorf(EINVALID, "github_repo must look like owner/name.")
	}
	if p.GitURL == "" && p.GitHubRepo == "" {
		return Errorf(EINVALID, "A project needs a git_url or a github_repo to build from.")
	}
	if !ValidBranch(p.ProductionBranch) {
		return Errorf(EINVALID, "%q is not a valid branch name.", p.ProductionBranch)
	}
	for _, d := range []struct{ name, val string }{{"root_dir", p.RootDir}, {"output_dir", p.OutputDir}} {
		if !validRelDir(d.val) {
			return Errorf(EINVALID, "%s must be a relative path inside the repository.", d.name)
		}
	}
	if p.DockerfilePath != "" && (!validRelDir(p.DockerfilePath) || path.Clean(p.DockerfilePath) == "." || len(p.DockerfilePath) > 512) {
		return Errorf(EINVALID, "dockerfile_path must be the path of a file inside the root directory.")
	}
	if p.Port < 0 || p.Port > 65535 {
		return Errorf(EINVALID, "port must be 1 to 65535, or 0 for the image's EXPOSE.")
	}
	if len(p.InstallCommand) > 2000 || len(p.BuildCommand) > 2000 || len(p.StartCommand) > 2000 {
		return Errorf(EINVALID, "Commands are limited to 2000 characters.")
	}
	if !ValidHealthPath(p.HealthPath) {
		return Errorf(EINVALID, "health_path must be a path starting with / (at most 512 characters, no spaces).")
	}
	labels, err := model.WorkerLabels(p.WorkerLabels)
	if err != nil {
		return Errorf(EINVALID, "worker_labels: %s.", err)
	}
	p.WorkerLabels = labels
	return nil
}

// ValidHealthPath reports whether s can be requested as a server's health
// path: absolute, printable ASCII without spaces (a query is allowed).
func ValidHealthPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || len(s) > 512 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// ValidGitHubRepo reports whether s is a GitHub "owner/name" (neither part
// a dot segment: the name goes into API paths).
func ValidGitHubRepo(s string) bool {
	owner, name, _ := strings.Cut(s, "/")
	return repoRe.MatchString(s) && strings.Trim(owner, ".") != "" && strings.Trim(name, ".") != ""
}

// ValidateGitURL checks where a project's source would be fetched from.
// Everyone may use https:// URLs. Only a trusted caller (the administrator,
// or anyone when the operator allows local sources) may also use http://
// and file:// URLs and absolute paths: those are fetched on the berth host
// itself, from its own disk or network.
func ValidateGitURL(raw string, trusted bool) error {
	bad := Errorf(EINVALID, "git_url must be an https:// URL.")
	if trusted {
		bad = Errorf(EINVALID, "git_url must be an https://, http:// or file:// URL or an absolute path.")
	}
	local := Errorf(EINVALID, "git_url must be an https:// URL; local paths, file:// and http:// URLs are for the administrator.")
	if strings.HasPrefix(raw, "/") {
		if strings.ContainsAny(raw, "\x00\n") {
			return bad
		}
		if !trusted {
			return local
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad
	}
	switch u.Scheme {
	case "https", "http":
		if u.Host == "" {
			return bad
		}
		if u.User != nil {
			return Errorf(EINVALID, "Do not put credentials in git_url; link the GitHub repository instead.")
		}
		if u.Scheme == "http" && !trusted {
			return local
		}
	case "file":
		if u.Path == "" {
			return bad
		}
		if !trusted {
			return local
		}
	default:
		return bad
	}
	return nil
}

// ValidBranch reports whether name is a plausible git branch name (a subset
// of git check-ref-format that is also safe to show and log).
func ValidBranch(name string) bool {
	if name == "" || len(name) > 200 || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "/") ||
		strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || strings.Contains(name, "//") || strings.Contains(name, "@{") {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) {
			return false
		}
	}
	return true
}

func validRelDir(p string) bool {
	if p == "" {
		return true
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsAny(p, "\x00\n") {
		return false
	}
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../")
}

// ValidEnvKey reports whether key is a usable environment variable name.
func ValidEnvKey(key string) bool { return len(key) <= 256 && envKeyRe.MatchString(key) }
