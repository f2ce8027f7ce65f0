# Builds Debian 12's own Abseil source (libabsl20220623: the same patches,
# inline namespace and SONAMEs) with ThreadSanitizer into the cache, once, for
# the tsan preset. The packaged library is not instrumented: TSan would not
# see absl::Mutex and would report every handoff through one as a race. Tests
# of the tsan preset load this build instead (LD_LIBRARY_PATH), so every
# process, gRPC's own locks included, uses the instrumented Mutex.
#
# Source it after common.sh; it sets ABSL_TSAN_DIR (lib/ and include/ inside).
ABSL_TSAN_DIR="$HERALD_CACHE/absl-tsan-20220623"

ensure_absl_tsan() {
  if [ -f "$ABSL_TSAN_DIR/.complete" ]; then
    say "abseil with ThreadSanitizer: built in $ABSL_TSAN_DIR, nothing to do"
    return
  fi
  command -v dpkg-source >/dev/null 2>&1 || as_root apt-get install -y -qq dpkg-dev >/dev/null
  local work
  work="$(mktemp -d)"
  say "abseil with ThreadSanitizer: fetching Debian's source package (abseil 20220623)"
  mkdir -p "$work/lists/partial"
  cat > "$work/src.sources" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  local apt=(apt-get -qq -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work"
             -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
  "${apt[@]}" update >/dev/null
  (cd "$work" && "${apt[@]}" source --download-only abseil >/dev/null 2>&1)
  local dsc
  dsc="$(ls "$work"/abseil_20220623*.dsc | head -n 1)"
  [ -n "$dsc" ] || die "Debian's abseil 20220623 source package could not be fetched"
  # apt checked the files against the archive's signed Release; the .dsc's own
  # inline signature needs the uploader's key, which this machine lacks.
  dpkg-source -x "$dsc" "$work/src" >/dev/null 2>&1 || die "could not unpack $dsc"
  say "abseil with ThreadSanitizer: building (a few minutes, once)"
  cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
    -DCMAKE_INSTALL_PREFIX="$ABSL_TSAN_DIR.partial" >/dev/null 2>&1
  cmake --build "$work/build" >/dev/null
  rm -rf "$ABSL_TSAN_DIR.partial"
  cmake --install "$work/build" >/dev/null
  rm -rf "$ABSL_TSAN_DIR"
  mv "$ABSL_TSAN_DIR.partial" "$ABSL_TSAN_DIR"
  touch "$ABSL_TSAN_DIR/.complete"
  rm -rf "$work"
  say "abseil with ThreadSanitizer: installed in $ABSL_TSAN_DIR"
}
