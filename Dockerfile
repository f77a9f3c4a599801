# berth's image: one static binary on a small base with the CA certificates and iptables.
#
#   docker build -t berth --build-arg VERSION=$(git describe --always) .
#
# Running it (see "On a server" in README.md): berth drives the host's Docker engine through
# its socket, and fences the network its builds run on with iptables rules on that host, so:
#
#   docker run -d --name berth --restart unless-stopped \
#     --network host --cap-add NET_ADMIN \
#     -v /var/run/docker.sock:/var/run/docker.sock -v berth-data:/data \
#     --env-file /etc/berth/env berth
#
# The base images are arguments so that a build without registry access can use local ones.
ARG GO_IMAGE=golang:1.26-alpine
ARG RUNTIME_IMAGE=alpine:3.22

FROM ${GO_IMAGE} AS build
# GOPROXY: a module proxy of your own (unset: Go's default).
ARG GOPROXY
WORKDIR /src
# The modules first, in a layer of their own that stays cached while only the code changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# No cgo (modernc.org/sqlite is pure Go): the binary runs on any base, even an empty one.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/berth . && \
	/out/berth version

FROM ${RUNTIME_IMAGE}
# What berth needs besides itself: CA certificates (S3, GitHub, ACME), iptables and ip6tables
# for the network fence, and git, whose upload-pack clones repositories given as local paths.
# With an alpine base they come from apk; a base that already has them passes
# RUNTIME_PACKAGES="".
ARG RUNTIME_PACKAGES="ca-certificates iptables ip6tables git"
# The berth user is written into the files directly: not every base has adduser.
RUN if [ -n "$RUNTIME_PACKAGES" ]; then apk add --no-cache $RUNTIME_PACKAGES; fi && \
	echo 'berth:x:10001:10001:berth:/data:/sbin/nologin' >>/etc/passwd && \
	echo 'berth:x:10001:' >>/etc/group && \
	mkdir -p /data && chown 10001:10001 /data
COPY --from=build /out/berth /usr/local/bin/berth

# The process runs as root by default: the network fence runs iptables on the Docker host,
# which needs root with CAP_NET_ADMIN, and it listens on 80 and 443. With
# BERTH_NETWORK_ISOLATION=off (builds can then reach the host and private networks) it runs
# as the berth user instead: --user berth --group-add <gid of the Docker socket>.
ENV BERTH_DATA_DIR=/data BERTH_ADDR=:8080
VOLUME ["/data"]
# 8080: plain HTTP (BERTH_ADDR). On a server, BERTH_ADDR=:80 and HTTPS on BERTH_HTTPS_ADDR
# (:443); with --network host nothing is published, berth listens on the host's ports itself.
EXPOSE 8080
ENTRYPOINT ["berth"]
CMD ["serve"]
