#!/usr/bin/env bash
# Runs a binary of Herald's image the way a container runtime would: inside
# the image's root file system (mounted at HERALD_IMAGE_ROOT by the image
# test), as the image's user 65532, with /dev and /proc mounted, in a mount
# namespace of its own that goes away with it. The folder of the test's
# --ready_file, if one is given, is shared in at the same path.
#
#   HERALD_IMAGE_ROOT=/path/to/mounted/image tests/image/run-in-image.sh /usr/local/bin/herald-edge ARGS...
set -euo pipefail
root="${HERALD_IMAGE_ROOT:?HERALD_IMAGE_ROOT: the mounted image}"
binary="${1:?usage: run-in-image.sh BINARY ARGS...}"
shift
ready_dir=""
for arg in "$@"; do
  case "$arg" in --ready_file=*) ready_dir="$(dirname "${arg#--ready_file=}")" ;; esac
done
# The namespace's mounts (and the process) end with the binary: exec all the way.
exec unshare --mount --propagation private -- /bin/bash -c '
  set -e
  root="$1" ready_dir="$2"
  shift 2
  mkdir -p "$root/dev" "$root/proc"
  mount --rbind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  if [ -n "$ready_dir" ]; then
    chmod 0777 "$ready_dir"
    mkdir -p "$root$ready_dir"
    mount --bind "$ready_dir" "$root$ready_dir"
  fi
  exec chroot --userspec=65532:65532 "$root" "$@"
' run-in-image "$root" "$ready_dir" "$binary" "$@"
