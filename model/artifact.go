package model

// The layout of one deployment's artifact in the artifact store:
//
//	deployments/<id>/manifest.json   written last: its presence means complete
//	deployments/<id>/files/...       files served as they are
//	deployments/<id>/server.tar.gz   the app server, one archive (server outputs)
//	deployments/<id>/image.tar.gz    a built image, `docker save` gzipped (docker-image outputs)
const (
	ManifestName = "manifest.json"
	FilesDir     = "files/"
	ServerBundle = "server.tar.gz"
	ImageArchive = "image.tar.gz"
)

// AppImage is the local tag of a docker-image deployment's image, loaded
// from its archive on the host that runs it: one per deployment, so
// removing it removes nothing another deployment uses.
func AppImage(deploymentID string) string { return "berth-app:" + deploymentID }

// ArtifactPrefix is where a deployment's artifact lives in the store.
func ArtifactPrefix(deploymentID string) string { return "deployments/" + deploymentID + "/" }
