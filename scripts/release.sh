#!/usr/bin/env bash
# Builds a gatehouse release: static binaries for linux and darwin on amd64 and
# arm64, one archive each with LICENSE, NOTICE, README.md and CHANGELOG.md,
# SHA256SUMS, and (where docker buildx exists) the multi-arch image.
#
#   scripts/release.sh v1.2.3        a release: a clean tree with the tag v1.2.3 at HEAD
#   scripts/release.sh --snapshot    a snapshot of any tree (CI runs this): the version is
#                                    `git describe --tags --dirty`, or v0.0.0-SNAPSHOT-<sha>
#                                    without a tag; the image is never pushed
#
# Output in $DIST (default dist/):
#   gatehouse_<version>_<os>_<arch>.tar.gz   <version> without its leading "v",
#                                            e.g. gatehouse_1.2.3_linux_amd64.tar.gz
#   SHA256SUMS                               check with: sha256sum -c SHA256SUMS
#
# Options:
#   --no-image           skip the image even where docker buildx exists
# Environment:
#   DIST                 output folder (emptied first; default dist)
#   PLATFORMS            default "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"
#   IMAGE                default ghcr.io/gatehouse-dev/gatehouse
#   PUSH=1               push the image (a release only): IMAGE:<version> and IMAGE:latest
#   SOURCE_DATE_EPOCH    the build date (default: the commit's time, so a rebuild of
#                        a tag gives the same archives)
#
# Every binary is checked before it is packed: its build info must name its
# platform and CGO_ENABLED=0, the revision must be stamped in it, and the one
# for this machine's platform must run and print the version.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "release: $*" >&2; exit 1; }
log() { printf '== %s\n' "$*"; }

snapshot=false image=auto version=""
for arg in "$@"; do
  case "$arg" in
    --snapshot) snapshot=true ;;
    --no-image) image=no ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    v*) version=$arg ;;
    *) die "unknown argument $arg (want a version such as v1.2.3, or --snapshot)" ;;
  esac
done

command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 || die "run from a git checkout"
revision=$(git rev-parse HEAD)
dirty=""
[ -z "$(git status --porcelain)" ] || dirty="+dirty"
if $snapshot; then
  [ -z "$version" ] || die "--snapshot takes its version from git describe; give one or the other"
  if desc=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
    version="$desc-SNAPSHOT"
  else
    version="v0.0.0-SNAPSHOT-$(git rev-parse --short=12 HEAD)${dirty:+-dirty}"
  fi
else
  [ -n "$version" ] || die "give the version to release (v1.2.3) or --snapshot"
  [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "$version is not a semantic version (v1.2.3, v1.2.3-rc.1)"
  [ -z "$dirty" ] || die "the tree has uncommitted changes; a release is built from a clean tree"
  [ "$(git rev-parse -q --verify "refs/tags/$version^{commit}" || true)" = "$revision" ] ||
    die "tag $version is not at HEAD (git tag -a $version && git push origin $version)"
fi
revision="$revision$dirty"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$epoch" +%Y-%m-%dT%H:%M:%SZ)
platforms=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
dist=${DIST:-dist}
name_version=${version#v}

pkg=github.com/gatehouse-dev/gatehouse/internal/buildinfo
ldflags="-s -w -X $pkg.version=$version -X $pkg.revision=$revision -X $pkg.date=$date"
host="$(go env GOHOSTOS)/$(go env GOHOSTARCH)"
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  tarflags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch")
else
  tarflags=(--uid 0 --gid 0) # bsdtar (macOS)
fi
if command -v sha256sum >/dev/null; then sha256=(sha256sum); else sha256=(shasum -a 256); fi

log "gatehouse $version (revision $revision, built $date) into $dist/"
rm -rf "$dist"
mkdir -p "$dist"
for platform in $platforms; do
  os=${platform%/*} arch=${platform#*/}
  base="gatehouse_${name_version}_${os}_${arch}"
  stage="$dist/.stage/$base"
  mkdir -p "$stage"
  log "$platform"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" \
    -o "$stage/gatehouse" ./cmd/gatehouse

  info=$(go version -m "$stage/gatehouse")
  for want in "GOOS=$os" "GOARCH=$arch" "CGO_ENABLED=0"; do
    grep -qF -- "$want" <<<"$info" || die "$base: the build info lacks $want:"$'\n'"$info"
  done
  # -trimpath leaves -ldflags out of the build info: look for the stamp itself.
  grep -qaF -- "$revision" "$stage/gatehouse" || die "$base: the revision $revision is not stamped in"
  if [ "$platform" = "$host" ]; then
    got=$("$stage/gatehouse" version)
    want="gatehouse $version (revision $revision, built $date, "
    [[ "$got" == "$want"* ]] || die "$base: gatehouse version printed \"$got\", want \"$want...\""
    log "  runs: $got"
  fi

  cp LICENSE NOTICE README.md CHANGELOG.md "$stage/"
  tar -C "$dist/.stage" "${tarflags[@]}" -cf - "$base" | gzip -n -9 >"$dist/$base.tar.gz"
done
rm -rf "$dist/.stage"
(cd "$dist" && "${sha256[@]}" gatehouse_*.tar.gz >SHA256SUMS && "${sha256[@]}" -c --quiet SHA256SUMS)
log "SHA256SUMS"
cat "$dist/SHA256SUMS"

if [ "$image" = auto ] && docker buildx version >/dev/null 2>&1; then
  tags=(-t "${IMAGE:-ghcr.io/gatehouse-dev/gatehouse}:$name_version")
  output=() # snapshot: built for both platforms, kept in the build cache only
  if ! $snapshot && [ "${PUSH:-}" = 1 ]; then
    tags+=(-t "${IMAGE:-ghcr.io/gatehouse-dev/gatehouse}:latest")
    output=(--push)
  fi
  log "image ${tags[*]} (linux/amd64, linux/arm64)${output:+, pushed}"
  docker buildx build --platform linux/amd64,linux/arm64 \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$date" \
    "${tags[@]}" ${output[@]+"${output[@]}"} . # (the + form: bash 3.2, macOS's, calls an empty array unbound)
elif [ "$image" = auto ]; then
  log "no docker buildx: no image"
fi
