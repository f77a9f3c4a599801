package model

// The layout of one deployment's artifact in the artifact store:
//
//	deployments/<id>/manifest.json   written last: its presence means complete
//	deployments/<id>/files/...       files served as they are
//	deployments/<id>/server.tar.gz   the app server, one archive (server outputs)
const (
	ManifestName = "manifest.json"
	FilesDir     = "files/"
	ServerBundle = "server.tar.gz"
)

// ArtifactPrefix is where a deployment's artifact lives in the store.
func ArtifactPrefix(deploymentID string) string { return "deployments/" + deploymentID + "/" }
