package api

import (
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// projectCard is one project on the projects page.
type projectCard struct {
	*store.Project
	URL    string         // the production URL
	Latest *deploymentRow // the newest deployment, if any
}

func (d *dashboard) handleProjects(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	list, err := d.s.deps.DB.Projects(ctx, u.ID)
	if err != nil {
		return d.fail(c, err)
	}
	now := time.Now()
	cards := make([]projectCard, len(list))
	for i, p := range list {
		cards[i] = projectCard{Project: p, URL: d.s.previewURL(p.Slug)}
		latest, err := d.s.deps.DB.Deployments(ctx, u.ID, p.ID, 1)
		if err != nil {
			return d.fail(c, err)
		}
		if len(latest) == 1 {
			row := d.deploymentRow(latest[0], p.ProductionDeploymentID, now)
			cards[i].Latest = &row
		}
	}
	// The most recently active project first.
	active := func(p projectCard) time.Time {
		if p.Latest != nil {
			return p.Latest.CreatedAt
		}
		return p.CreatedAt
	}
	slices.SortStableFunc(cards, func(a, b projectCard) int { return active(b).Compare(active(a)) })
	return d.render(c, http.StatusOK, "projects", pageView{Title: "Projects", Nav: "projects", Page: cards})
}

// projectForm is the create and settings form, as typed.
type projectForm struct {
	Name             string
	GitURL           string
	GitHubRepo       string
	ProductionBranch string
	RootDir          string
	InstallCommand   string
	BuildCommand     string
	OutputDir        string
	StartCommand     string
	DockerfilePath   string
	Port             string // digits; empty is 0
	AllowForkPRs     bool
	HealthPath       string
	WorkerLabels     string // separated by commas or spaces
}

func readProjectForm(c echo.Context) projectForm {
	v := func(name string) string { return strings.TrimSpace(c.FormValue(name)) }
	return projectForm{
		Name: v("name"), GitURL: v("git_url"), GitHubRepo: v("github_repo"), ProductionBranch: v("production_branch"),
		RootDir: v("root_dir"), InstallCommand: v("install_command"), BuildCommand: v("build_command"), OutputDir: v("output_dir"),
		StartCommand: v("start_command"), DockerfilePath: v("dockerfile_path"), Port: v("port"), AllowForkPRs: c.FormValue("allow_fork_prs") == "on", HealthPath: v("health_path"), WorkerLabels: v("worker_labels"),
	}
}

func projectFormOf(p *store.Project) projectForm {
	return projectForm{
		Name: p.Name, GitURL: p.GitURL, GitHubRepo: p.GitHubRepo, ProductionBranch: p.ProductionBranch,
		RootDir: p.RootDir, InstallCommand: p.InstallCommand, BuildCommand: p.BuildCommand, OutputDir: p.OutputDir,
		StartCommand: p.StartCommand, DockerfilePath: p.DockerfilePath, Port: formPortOf(p.Port), AllowForkPRs: p.AllowForkPRs, HealthPath: p.HealthPath, WorkerLabels: strings.Join(p.WorkerLabels, ", "),
	}
}

type newProjectPage struct {
	Form   projectForm
	GitHub bool
}

func (d *dashboard) handleNewProject(c echo.Context) error {
	return d.renderNewProject(c, http.StatusOK, projectForm{}, "")
}

func (d *dashboard) renderNewProject(c echo.Context, status int, f projectForm, errMsg string) error {
	return d.render(c, status, "project_new", pageView{Title: "New project", Nav: "projects", Error: errMsg,
		Page: newProjectPage{Form: f, GitHub: d.githubEnabled()}})
}

func (d *dashboard) handleCreateProject(c echo.Context) error {
	f := readProjectForm(c)
	if f.GitURL == "" && f.GitHubRepo == "" {
		return d.renderNewProject(c, http.StatusBadRequest, f, "Enter the git URL of the repository to deploy.")
	}
	if f.Name == "" {
		f.Name = projectNameFromRepo(f.GitURL, f.GitHubRepo)
	}
	if err := d.s.checkGitURL(currentUser(c), f.GitURL); err != nil {
		msg, status, _ := formError(err)
		return d.renderNewProject(c, status, f, msg)
	}
	u := currentUser(c)
	p := &store.Project{
		OwnerID: u.ID, Name: f.Name, GitURL: f.GitURL, GitHubRepo: f.GitHubRepo,
		ProductionBranch: f.ProductionBranch, RootDir: f.RootDir, InstallCommand: f.InstallCommand,
		BuildCommand: f.BuildCommand, OutputDir: f.OutputDir, StartCommand: f.StartCommand, DockerfilePath: f.DockerfilePath, Port: f.port(), AllowForkPRs: f.AllowForkPRs,
	}
	// As the API does: berth checks that u can see a linked repository.
	err := d.s.deps.Deploys.AllowNewProject(c.Request().Context(), u)
	var secret string
	if err == nil {
		secret, err = d.s.linkNewProject(c.Request().Context(), u, p)
	}
	if err == nil {
		err = d.s.deps.DB.CreateProject(c.Request().Context(), p)
	}
	if err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderNewProject(c, status, f, msg)
		}
		if store.ErrorCode(err) == store.EFORBIDDEN { // the repository is not the user's to link
			return d.renderNewProject(c, http.StatusForbidden, f, store.ErrorMessage(err))
		}
		return d.fail(c, err)
	}
	if secret != "" {
		// The secret is shown this once, so this answer is the page itself.
		return d.renderProjectWith(c, http.StatusCreated, p, projectExtras{
			Notice: "Project created. Add the webhook below to the repository on GitHub.", WebhookSecret: secret})
	}
	return seeOther(c, "/projects/"+p.ID+"?done=created")
}

// projectNameFromRepo guesses a project name from its repository: the last path
// element without ".git".
func projectNameFromRepo(gitURL, githubRepo string) string {
	s := githubRepo
	if s == "" {
		s = gitURL
	}
	s = strings.TrimSuffix(strings.TrimRight(s, "/"), ".git")
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// projectPage is everything the project page shows.
type projectPage struct {
	Project     *store.Project
	URL         string // the production URL
	Production  *deploymentRow
	Deployments []deploymentRow
	Env         []*store.EnvVar
	Targets     []string
	Settings    projectForm
	NewEnv      envForm
	Deliveries  []*store.Delivery // recent GitHub webhook deliveries
	History     []historyRow      // production history, newest first
	WebhookURL  string            // where GitHub sends deliveries
	// WebhookSecret is a secret just made, shown this once.
	WebhookSecret string
	Domains       []domainRow
	NewDomain     string // the add form's name, kept when it was refused
}

// projectExtras are what a project page shows only right after a change.
type projectExtras struct {
	Notice        string
	WebhookSecret string
	NewDomain     string
}

type envForm struct{ Key, Target string }

func (d *dashboard) handleProject(c echo.Context) error {
	p, err := d.s.deps.DB.Project(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	return d.renderProject(c, http.StatusOK, p, projectFormOf(p), envForm{Target: model.TargetAll}, "")
}

func (d *dashboard) renderProject(c echo.Context, status int, p *store.Project, settings projectForm, env envForm, errMsg string) error {
	return d.renderProjectPage(c, status, p, settings, env, errMsg, projectExtras{})
}

// renderProjectWith shows the project page with extras, its forms as stored.
func (d *dashboard) renderProjectWith(c echo.Context, status int, p *store.Project, extras projectExtras) error {
	return d.renderProjectPage(c, status, p, projectFormOf(p), envForm{Target: model.TargetAll}, "", extras)
}

func (d *dashboard) renderProjectPage(c echo.Context, status int, p *store.Project, settings projectForm, env envForm, errMsg string, extras projectExtras) error {
	ctx := c.Request().Context()
	owner := currentUser(c).ID
	deps, err := d.s.deps.DB.Deployments(ctx, owner, p.ID, 50)
	if err != nil {
		return d.fail(c, err)
	}
	vars, err := d.s.deps.DB.EnvVars(ctx, owner, p.ID)
	if err != nil {
		return d.fail(c, err)
	}
	deliveries, err := d.s.deps.DB.Deliveries(ctx, owner, p.ID, 20)
	if err != nil {
		return d.fail(c, err)
	}
	history, err := d.productionHistory(ctx, owner, p, deps)
	if err != nil {
		return d.fail(c, err)
	}
	domains, err := d.domainRows(ctx, owner, p)
	if err != nil {
		return d.fail(c, err)
	}
	if env.Target == "" {
		env.Target = model.TargetAll
	}
	page := projectPage{
		Domains: domains, NewDomain: extras.NewDomain, History: history,
		Deliveries: deliveries, WebhookURL: d.s.webhookURL(), WebhookSecret: extras.WebhookSecret,
		Project: p, URL: d.s.previewURL(p.Slug), Env: vars, Settings: settings, NewEnv: env,
		Targets: []string{model.TargetAll, model.TargetBuild, model.TargetRuntime},
	}
	now := time.Now()
	for _, dep := range deps {
		row := d.deploymentRow(dep, p.ProductionDeploymentID, now)
		page.Deployments = append(page.Deployments, row)
		if row.IsProduction {
			page.Production = &row
		}
	}
	if page.Production == nil && p.ProductionDeploymentID != "" {
		if dep, err := d.s.deps.DB.Deployment(ctx, owner, p.ProductionDeploymentID); err == nil {
			row := d.deploymentRow(dep, p.ProductionDeploymentID, now)
			page.Production = &row
		}
	}
	return d.render(c, status, "project", pageView{Title: p.Name, Nav: "projects", Error: errMsg, Notice: extras.Notice, Page: page})
}

// handleRotateWebhookSecret gives the project a new webhook secret and
// shows it, this once.
func (d *dashboard) handleRotateWebhookSecret(c echo.Context) error {
	ctx := c.Request().Context()
	owner := currentUser(c).ID
	p, err := d.s.deps.DB.Project(ctx, owner, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if p.GitHubRepo == "" {
		return d.renderProject(c, http.StatusBadRequest, p, projectFormOf(p), envForm{Target: model.TargetAll},
			"Link a GitHub repository first: the webhook secret signs its deliveries.")
	}
	secret, err := d.s.deps.Deploys.RotateWebhookSecret(ctx, owner, p.ID)
	if err != nil {
		return d.fail(c, err)
	}
	if p, err = d.s.deps.DB.Project(ctx, owner, p.ID); err != nil {
		return d.fail(c, err)
	}
	return d.renderProjectWith(c, http.StatusOK, p, projectExtras{
		Notice: "New webhook secret made: the old one no longer works. Copy it into the webhook on GitHub now.", WebhookSecret: secret})
}

func (d *dashboard) handleProjectSettings(c echo.Context) error {
	ctx := c.Request().Context()
	owner := currentUser(c).ID
	p, err := d.s.deps.DB.Project(ctx, owner, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	f := readProjectForm(c)
	if f.ProductionBranch == "" {
		return d.renderProject(c, http.StatusBadRequest, p, f, envForm{Target: model.TargetAll},
			"Enter the production branch, such as main.")
	}
	if f.HealthPath == "" {
		f.HealthPath = "/"
	}
	labels := strings.FieldsFunc(f.WorkerLabels, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	patch := store.ProjectPatch{Name: &f.Name, ProductionBranch: &f.ProductionBranch, RootDir: &f.RootDir,
		InstallCommand: &f.InstallCommand, BuildCommand: &f.BuildCommand, OutputDir: &f.OutputDir, StartCommand: &f.StartCommand, DockerfilePath: &f.DockerfilePath, HealthPath: &f.HealthPath,
		WorkerLabels: &labels}
	port := f.port()
	patch.Port = &port
	if p.GitHubRepo == "" {
		patch.GitURL = &f.GitURL // a linked GitHub repository is changed on GitHub's side
		if f.GitURL != p.GitURL {
			if err := d.s.checkGitURL(currentUser(c), f.GitURL); err != nil {
				msg, status, _ := formError(err)
				return d.renderProject(c, status, p, f, envForm{Target: model.TargetAll}, msg)
			}
		}
	} else {
		patch.AllowForkPRs = &f.AllowForkPRs // only pull requests on GitHub come from forks
	}
	if _, err := d.s.deps.DB.UpdateProject(ctx, owner, p.ID, patch); err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderProject(c, status, p, f, envForm{Target: model.TargetAll}, msg)
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/projects/"+p.ID+"?done=saved#settings")
}

func (d *dashboard) handleDeleteProject(c echo.Context) error {
	ctx := c.Request().Context()
	owner := currentUser(c).ID
	p, err := d.s.deps.DB.Project(ctx, owner, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if strings.TrimSpace(c.FormValue("confirm")) != p.Name {
		return d.renderProject(c, http.StatusBadRequest, p, projectFormOf(p), envForm{Target: model.TargetAll},
			"To delete the project, type its name, "+p.Name+", in the confirmation box.")
	}
	if err := d.s.deps.Deploys.DeleteProject(ctx, owner, p); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/?done=deleted")
}

func (d *dashboard) handleDeploy(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := d.s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	dep, err := d.s.deps.Deploys.Deploy(ctx, u.ID, p, &store.Deployment{ProjectID: p.ID, Trigger: model.TriggerDashboard})
	if err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderProject(c, status, p, projectFormOf(p), envForm{Target: model.TargetAll}, msg)
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/deployments/"+dep.ID)
}
