#!/usr/bin/env bash
# Builds the container image and runs the end-to-end suites against it: the compose topology's
# processes (migrate; a services container with every backend role but avatar; an avatar
# container; two edges) as containers on host networking, against this machine's NATS, Redis
# and PostgreSQL. Not part of `npm test`.
#
#   npm run test:image                  # or: bash deploy/scripts/test-image.sh
#   npm run test:image -- --rebuild-base
#   npm run test:image -- --skip-build
#
# Works without Docker Hub: the image is built FROM a base made here (debootstrap of Debian
# bookworm + this machine's node and npm + its CA bundle, `docker import`ed and cached by tag).
# Each suite gets a fresh database and its own NATS subject / Redis key prefix
# (services/impp/src/testing/cluster.ts, mode "image"), so nothing else using the same
# servers is disturbed. The run's containers, databases and Redis keys are removed on exit,
# whatever happens; the base and project images stay (they are the cache).
#
# Settings (environment):
#   IMPP_TEST_NATS_URL      default nats://127.0.0.1:4222
#   IMPP_TEST_REDIS_URL     default redis://127.0.0.1:6379
#   IMPP_TEST_DATABASE_URL  default postgres://postgres@127.0.0.1:5432/postgres (may CREATE DATABASE)
#   IMPP_TEST_BASE_IMAGE    default impp-test-base:bookworm-node<host node version>
#   IMPP_TEST_IMAGE         default impp:test
#   DEBIAN_MIRROR           default http://deb.debian.org/debian
# Flags: --rebuild-base (make the base again), --skip-build (test the existing IMPP_TEST_IMAGE).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

REBUILD_BASE=0
SKIP_BUILD=0
for arg in "$@"; do
  case "$arg" in
    --rebuild-base) REBUILD_BASE=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

export IMPP_TEST_NATS_URL="${IMPP_TEST_NATS_URL:-nats://127.0.0.1:4222}"
export IMPP_TEST_REDIS_URL="${IMPP_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export IMPP_TEST_DATABASE_URL="${IMPP_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
NODE_BIN="$(command -v node)"
NODE_VERSION="$("$NODE_BIN" -p 'process.versions.node')"
BASE_IMAGE="${IMPP_TEST_BASE_IMAGE:-impp-test-base:bookworm-node$NODE_VERSION}"
export IMPP_TEST_IMAGE="${IMPP_TEST_IMAGE:-impp:test}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Every container and database of this run carries this id; cleanup removes exactly those.
RUN_ID="$(date +%H%M%S)$$"
export IMPP_TEST_RUN_ID="$RUN_ID"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/impp-test-image.XXXXXX")"
START=$SECONDS

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
  printf '\nERROR: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  set +e
  step "cleaning up (run $RUN_ID)"
  if [ -n "${DOCKER:-}" ]; then
    local ids
    ids="$($DOCKER ps -aq --filter "label=impp.test-run=$RUN_ID" 2>/dev/null)"
    if [ -n "$ids" ]; then
      note "removing leftover containers: $(echo "$ids" | wc -l)"
      # (`docker run --rm` may be removing some already: that error is noise.)
      # shellcheck disable=SC2086
      $DOCKER rm -f $ids >/dev/null 2>&1
      sleep 1
      [ -z "$($DOCKER ps -aq --filter "label=impp.test-run=$RUN_ID")" ] || note "some containers remain: docker ps -a --filter label=impp.test-run=$RUN_ID"
    else
      note "no containers left over"
    fi
  fi
  node "$ROOT/deploy/scripts/cleanup-test-run.mjs" "$RUN_ID" || note "could not remove everything (see above)"
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
step "checking docker"
if [ "$(id -u)" -ne 0 ] && ! docker info >/dev/null 2>&1; then
  die "no usable Docker engine for $(id -un). Either run this as root (it installs and starts one),
or start one yourself: sudo apt-get install -y docker.io && sudo dockerd &  (and join the docker group)"
fi
if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  note "no Docker engine installed: apt-get install -y docker.io"
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null \
    || die "could not install docker.io"
fi
if ! docker info >/dev/null 2>&1; then
  note "starting dockerd in the background (log: /var/log/impp-test-dockerd.log); it stays running"
  # In a session of its own: a Ctrl-C of this run must not reach the engine.
  setsid nohup dockerd >/var/log/impp-test-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 30); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || die "dockerd did not come up: see /var/log/impp-test-dockerd.log"
fi

# The Dockerfile needs BuildKit (RUN --mount=type=cache, Dockerfile.dockerignore). A client with
# the buildx plugin uses it; an engine-era client (< 23, e.g. Debian's docker.io 20.10) has
# BuildKit built in behind DOCKER_BUILDKIT=1. A newer client without buildx has neither.
DOCKER=docker
if docker buildx version >/dev/null 2>&1; then
  BUILD=(docker build)
else
  BUILD=()
  for candidate in docker /usr/bin/docker; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    major="$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)"
    if [ -n "$major" ] && [ "$major" -lt 23 ]; then
      BUILD=(env DOCKER_BUILDKIT=1 "$candidate" build)
      break
    fi
  done
  [ ${#BUILD[@]} -gt 0 ] || die "no BuildKit: install the buildx plugin, or use Debian's docker.io client (/usr/bin/docker)"
fi
note "engine $($DOCKER version --format '{{.Server.Version}}'), build with: ${BUILD[*]}"

step "checking NATS, Redis and PostgreSQL"
node --input-type=module -e '
import net from "node:net";
const ports = { "nats:": 4222, "redis:": 6379, "postgres:": 5432, "postgresql:": 5432 };
let bad = 0;
for (const name of ["IMPP_TEST_NATS_URL", "IMPP_TEST_REDIS_URL", "IMPP_TEST_DATABASE_URL"]) {
  const u = new URL(process.env[name]);
  const ok = await new Promise((r) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) || ports[u.protocol], timeout: 2000 });
    s.once("connect", () => { s.destroy(); r(true); });
    s.once("timeout", () => { s.destroy(); r(false); });
    s.once("error", () => r(false));
  });
  console.log(`    ${ok ? "ok  " : "DOWN"} ${name}=${u.protocol}//${u.host}`);
  if (!ok) bad++;
}
process.exit(bad ? 1 : 0);
' || die "start NATS (with JetStream), Redis and PostgreSQL, or point IMPP_TEST_*_URL at them"

# ---------------------------------------------------------------------------------------------
step "base image $BASE_IMAGE"
if [ "$REBUILD_BASE" = 0 ] && $DOCKER image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  note "cached (--rebuild-base to make it again)"
else
  [ "$(id -u)" -eq 0 ] || die "making the base image needs root (debootstrap); or set IMPP_TEST_BASE_IMAGE to an existing Debian-based Node 20 image"
  if ! command -v debootstrap >/dev/null 2>&1; then
    note "apt-get install -y debootstrap"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null \
      || die "could not install debootstrap"
  fi
  NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  [ -f "$NPM_DIR/package.json" ] || die "cannot find npm's folder (from $(command -v npm))"
  CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
  [ -f "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE"
  ROOTFS="$WORK/rootfs"
  note "debootstrap bookworm (minbase) from $MIRROR — a few minutes"
  # libstdc++6: node links it; ca-certificates is replaced by the host's bundle below (it may
  # hold a proxy's CA that npm inside the build needs to reach the registry).
  debootstrap --variant=minbase --include=libstdc++6 bookworm "$ROOTFS" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || {
    tail -20 "$WORK/debootstrap.log" >&2
    die "debootstrap failed"
  }
  note "adding node $NODE_VERSION ($NODE_BIN), npm $(npm -v) ($NPM_DIR) and the CA bundle"
  install -m 0755 "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
  mkdir -p "$ROOTFS/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
  mkdir -p "$ROOTFS/etc/ssl/certs"
  cp "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  # uid 1000 `node`, as in the official node images the Dockerfile was written for.
  chroot "$ROOTFS" /usr/sbin/groupadd --gid 1000 node
  chroot "$ROOTFS" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$ROOTFS" /usr/local/bin/node -e 'console.log("    node runs in the base: " + process.version)'
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | $DOCKER import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV NODE_VERSION='"$NODE_VERSION" \
    --change 'CMD ["node"]' \
    - "$BASE_IMAGE" >/dev/null
  note "imported $($DOCKER image inspect -f '{{.Id}}' "$BASE_IMAGE" | cut -c1-19), $(($($DOCKER image inspect -f '{{.Size}}' "$BASE_IMAGE") / 1000000)) MB"
fi

# ---------------------------------------------------------------------------------------------
if [ "$SKIP_BUILD" = 1 ]; then
  step "image $IMPP_TEST_IMAGE (--skip-build: not rebuilt)"
  $DOCKER image inspect "$IMPP_TEST_IMAGE" >/dev/null 2>&1 || die "no image $IMPP_TEST_IMAGE to test"
else
  step "building $IMPP_TEST_IMAGE from deploy/Dockerfile on $BASE_IMAGE"
  t0=$SECONDS
  "${BUILD[@]}" -f deploy/Dockerfile --build-arg "NODE_IMAGE=$BASE_IMAGE" -t "$IMPP_TEST_IMAGE" . \
    >"$WORK/build.log" 2>&1 || {
    tail -40 "$WORK/build.log" >&2
    die "docker build failed"
  }
  note "built in $((SECONDS - t0)) s"
fi
IMAGE_ID="$($DOCKER image inspect -f '{{.Id}}' "$IMPP_TEST_IMAGE")"
IMAGE_MB=$(($($DOCKER image inspect -f '{{.Size}}' "$IMPP_TEST_IMAGE") / 1000000))
note "$IMPP_TEST_IMAGE = ${IMAGE_ID:0:19}, $IMAGE_MB MB"
note "user: $($DOCKER image inspect -f '{{.Config.User}}' "$IMPP_TEST_IMAGE"), entrypoint: $($DOCKER image inspect -f '{{json .Config.Entrypoint}}' "$IMPP_TEST_IMAGE")"

# ---------------------------------------------------------------------------------------------
step "building the test harness on this machine (npm run build)"
npm run build >"$WORK/npm-build.log" 2>&1 || {
  tail -40 "$WORK/npm-build.log" >&2
  die "npm run build failed"
}

step "end-to-end suites against the image (each: fresh database, migrate, services, 2 edges)"
TESTS=(services/impp/dist/e2e/image/*.image.js)
[ -e "${TESTS[0]}" ] || die "no image suites in services/impp/dist/e2e/image"
set +e
IMPP_LOG_LEVEL="${IMPP_LOG_LEVEL:-silent}" node --test --test-concurrency=1 --test-timeout=300000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$WORK/results.tap" \
  "${TESTS[@]}"
TEST_RC=$?
set -e

# "?" when the runner never printed its totals (interrupted).
count() {
  local n
  n="$(grep -E "^# $1 [0-9]+" "$WORK/results.tap" 2>/dev/null | tail -1 | awk '{print $3}')"
  echo "${n:-?}"
}
step "summary"
note "base image:   $BASE_IMAGE"
note "image:        $IMPP_TEST_IMAGE (${IMAGE_ID:0:19}, $IMAGE_MB MB)"
note "backends:     $IMPP_TEST_NATS_URL, $IMPP_TEST_REDIS_URL, $(node -p 'const u=new URL(process.env.IMPP_TEST_DATABASE_URL);u.protocol+"//"+u.host')"
note "suites:       ${TESTS[*]##*/}"
note "tests:        $(count tests) (pass $(count pass), fail $(count fail), skipped $(count skipped), todo $(count todo), cancelled $(count cancelled))"
note "took:         $((SECONDS - START)) s"
if [ "$TEST_RC" -ne 0 ]; then
  note "RESULT:       FAILED (node --test exit $TEST_RC)"
  exit "$TEST_RC"
fi
note "RESULT:       passed"
