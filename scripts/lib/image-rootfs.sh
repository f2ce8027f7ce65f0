#!/usr/bin/env bash
# Completes the runtime root file system of Herald's image, in the
# Containerfile's build stage: ROOT already holds cmake --install's layout in
# ROOT/usr/local. Adds what the binaries need and nothing else:
#   - every shared library they load (ldd's closure, with the dynamic loader),
#     at the paths Debian 12 has them, and an ld.so.cache for them;
#   - the Debian copyright file of each package those libraries come from,
#     and a list of the packages and versions (usr/local/share/herald/packages.txt);
#   - CA certificates (Kafka over TLS: OpenSSL's default paths lead to them),
#     passwd and group entries for user 65532 (herald), /tmp.
# Not gathered: modules loaded with dlopen only (Cyrus SASL's plugins for
# GSSAPI, OpenSSL's legacy provider); SASL PLAIN and SCRAM are built into
# librdkafka and need none.
#
#   scripts/lib/image-rootfs.sh ROOT
set -euo pipefail
root="${1:?usage: image-rootfs.sh ROOT}"
bins=("$root"/usr/local/bin/*)
[ -e "${bins[0]}" ] || { echo "image-rootfs: no binaries in $root/usr/local/bin" >&2; exit 1; }

# The merged-/usr links of the base (bookworm: /lib -> usr/lib, ...).
mkdir -p "$root/usr"
for link in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$link" ] && [ ! -e "$root/$link" ]; then ln -s "$(readlink "/$link")" "$root/$link"; fi
done

# Every library path ldd resolves, and the loader (the line without "=>").
# Checked here, in this shell: a binary whose libraries do not all resolve
# stops the build.
listing="$(mktemp)"
trap 'rm -f "$listing"' EXIT
for bin in "${bins[@]}"; do
  out="$(ldd "$bin")" || { echo "image-rootfs: ldd $bin failed" >&2; exit 1; }
  if grep -q 'not found' <<<"$out"; then
    echo "image-rootfs: $bin: a library is missing in the build stage:" >&2
    grep 'not found' <<<"$out" >&2
    exit 1
  fi
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out" >> "$listing"
done
mapfile -t libs < <(sort -u "$listing")
[ ${#libs[@]} -gt 0 ] || { echo "image-rootfs: ldd listed no library" >&2; exit 1; }

# The Debian package owning a file, whichever of /lib and /usr/lib dpkg
# recorded it under, or through a symlink.
owner() {
  local path="$1" real candidate
  real="$(realpath "$path")"
  for candidate in "$path" "$real" "/usr$path" "${path#/usr}" "/usr$real" "${real#/usr}"; do
    if dpkg -S "$candidate" >/dev/null 2>&1; then
      dpkg -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1
      return 0
    fi
  done
  return 1
}

declare -A packages=()
for lib in "${libs[@]}"; do
  dir="$(realpath "$(dirname "$lib")")"
  mkdir -p "$root$dir"
  cp -L "$lib" "$root$dir/$(basename "$lib")"
  if pkg="$(owner "$lib")"; then
    packages["$pkg"]=1
  else
    echo "image-rootfs: $lib belongs to no Debian package" >&2
    exit 1
  fi
done

mkdir -p "$root/usr/local/share/herald"
: > "$root/usr/local/share/herald/packages.txt"
for pkg in $(printf '%s\n' "${!packages[@]}" | sort); do
  dpkg-query -W -f='${Package} ${Version}\n' "$pkg" >> "$root/usr/local/share/herald/packages.txt"
  if [ -f "/usr/share/doc/$pkg/copyright" ]; then
    mkdir -p "$root/usr/share/doc/$pkg"
    cp "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
  fi
done

# The loader finds the libraries by its built-in paths and by this cache.
multiarch="$(gcc -print-multiarch)"
mkdir -p "$root/etc"
printf '/usr/local/lib\n/usr/lib/%s\n' "$multiarch" > "$root/etc/ld.so.conf"
ldconfig -r "$root"

# Certificates (also where OpenSSL looks by default), users, name service, /tmp.
mkdir -p "$root/etc/ssl/certs" "$root/usr/lib/ssl"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
ln -sfn /etc/ssl/certs "$root/usr/lib/ssl/certs"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
herald:x:65532:65532:herald:/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat > "$root/etc/group" <<'EOF'
root:x:0:
herald:x:65532:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"

echo "image-rootfs: ${#libs[@]} libraries from ${#packages[@]} Debian packages;" \
  "$(du -sh "$root" | cut -f1) in all"
