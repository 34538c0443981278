#!/usr/bin/env bash
# One entry point for newcomers and CI: sets up what it needs, then runs.
#
#   ./dev.sh repro [ARGS...]   the seed's close_notify race (python -m mbedtls_py repro close-notify)
#   ./dev.sh test  [ARGS...]   the test suite (pytest); without ARGS (CI) first ruff and
#                              mypy --strict, then the suite, the key tests on library
#                              variant 3.6.6 (MBEDTLS_PY_CI_VARIANT= to skip) and on 4.0.0
#                              (when ../shared/sources has it), the release checks on the
#                              built wheel (tools/release_check.sh; MBEDTLS_PY_CI_RELEASE=0
#                              to skip) and the sanitizer pass (MBEDTLS_PY_CI_SANITIZE=0)
#   ./dev.sh shell             a shell with the project's virtual environment active
#   ./dev.sh sanitize [ARGS]   under ASan+UBSan (own build, .venv-asan): with no ARGS the
#                              CI pass (pytest -m sanitize, then 20,000 fuzzed datagrams);
#                              ARGS: pytest arguments; `run CMD...`: any command
#
# Set-up (idempotent): a virtual environment in .venv, the pinned Mbed TLS
# source fetched and verified (vendor/fetch.py), the extension built with
# `pip install -e .[test]`, and the `openssl` command when the tests need it.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# The key tests CI also runs on the second library variant (cheap: ~30 s).
VARIANT_TESTS="tests/variants/test_variants.py tests/bindings/test_context.py
               tests/sim/test_network_impairments.py tests/sim/test_network_run.py
               tests/repro/test_repro.py tests/bindings/test_errors.py tests/bindings/test_config.py
               tests/bindings/test_api_rules.py tests/server/test_dtls_server.py tests/explore/test_explore.py
               tests/bindings/test_sessions_and_renegotiation.py tests/bindings/test_ownership.py"

die() { echo "dev.sh: $*" >&2; exit 1; }

apt_install() {
    # Only as root (CI, fresh containers); otherwise say what to run.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        die "missing $*; install with: sudo apt-get install $*"
    fi
}

setup() {
    command -v "$PYTHON" >/dev/null || die "no $PYTHON; install Python >= 3.10"
    command -v cc >/dev/null || command -v gcc >/dev/null || apt_install gcc libc6-dev
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv "$VENV"; }
    fi
    local stamp="$VENV/.mbedtls-py-installed"
    local inputs
    inputs=$(cat pyproject.toml setup.py setup.cfg csrc/*.c csrc/*.h csrc/*.py csrc/cdefs/*.py vendor/pins.json \
             mbedtls_py/_version.py <(echo "pin=${MBEDTLS_PY_PIN:-}") | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$inputs" ]; then
        echo "dev.sh: building mbedtls-py (fetches and compiles Mbed TLS on first run)..." >&2
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -q -e ".[test]"
        echo "$inputs" > "$stamp"
    fi
}

sanitize() {
    # A copy of the tree in .build/asan-tree, built with MBEDTLS_PY_SANITIZE=1
    # into .venv-asan, so the sanitized extension never replaces the normal
    # one; everything then runs inside the copy (so `import mbedtls_py` finds it).
    local tree=.build/asan-tree venv="$PWD/.venv-asan" libasan so
    libasan=$(gcc -print-file-name=libasan.so 2>/dev/null || true)
    [ -f "$libasan" ] || die "no libasan.so (gcc -print-file-name=libasan.so); install gcc"
    mkdir -p "$tree"
    # Python files afresh (a module moved or deleted must not linger in the copy);
    # the copy's own sanitized extension (_lib*.so) is kept, never overwritten.
    [ -d "$tree/mbedtls_py" ] && find "$tree/mbedtls_py" "$tree/tests" -name '*.py' -delete 2>/dev/null
    tar --exclude='./.venv*' --exclude=./build --exclude=./.build --exclude=./.git --exclude='./mbedtls_py/_lib*.so' \
        --exclude=./vendor/mbedtls --exclude=./vendor/upstream-build --exclude='*/__pycache__' \
        -cf - . | tar -C "$tree" -xf -
    cd "$tree"
    MBEDTLS_PY_SANITIZE=1 VENV="$venv" setup
    so=$(ls mbedtls_py/_lib*.so 2>/dev/null | head -1)
    readelf -d "$so" 2>/dev/null | grep -q libasan || die "$tree/$so is not built with ASan"
    export LD_PRELOAD="$libasan" ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
    # Upstream reports already listed in csrc/ubsan-upstream.supp do not stop the run.
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$PWD/csrc/ubsan-upstream.supp}
    echo "dev.sh: ASan+UBSan build in $tree ($so)" >&2
    if [ "${1:-}" = run ]; then
        shift
        PATH="$venv/bin:$PATH" exec "$@"
    elif [ $# -gt 0 ]; then
        exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
    fi
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -m sanitize
    "$venv/bin/python" -m mbedtls_py fuzz --iterations "${FUZZ_ITERATIONS:-20000}" --seed ci
}

variant4() {
    # Mbed TLS 4.x has no Debian source package: the 4.0.0 tree of ../shared/sources
    # (MBEDTLS_PY_4X_TARBALL overrides), checked against vendor/pins.json, when present.
    local tarball=${MBEDTLS_PY_4X_TARBALL:-../shared/sources/mbedtls-4.0.0-full.tar.xz}
    local tree=.build/tree-4.0.0 want have
    if [ ! -f "$tarball" ]; then
        echo "dev.sh: SKIPPED variant 4.0.0: no $tarball (Mbed TLS 4.x has no Debian package;" \
             "give a 4.x tree with build-variant --source DIR, see docs/variants.md)" >&2
        return 0
    fi
    want=$("$VENV/bin/python" -c 'import json; print(json.load(open("vendor/pins.json"))["local_trees"]["4.0.0"]["sha256"])')
    have=$(sha256sum "$tarball" | cut -d' ' -f1)
    [ "$have" = "$want" ] || { echo "dev.sh: $tarball: SHA-256 $have, expected $want" >&2; return 1; }
    if [ ! -f "$tree/.sha256" ] || [ "$(cat "$tree/.sha256")" != "$have" ]; then
        rm -rf "$tree" && mkdir -p "$tree" && tar -C "$tree" -xf "$tarball" && echo "$have" > "$tree/.sha256"
    fi
    echo "dev.sh: key tests on library variant 4.0.0 ($tarball)..." >&2
    "$VENV/bin/python" -m mbedtls_py build-variant -q --source "$tree/mbedtls-4.0.0" --name 4.0.0 || return 1
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider --mbedtls-variant 4.0.0 \
        $VARIANT_TESTS tests/attacks/test_attacks.py tests/sim/test_determinism.py tests/capture/test_key_export.py
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    repro)
        setup
        exec "$VENV/bin/python" -m mbedtls_py repro close-notify "$@"
        ;;
    test)
        command -v openssl >/dev/null || apt_install openssl
        # the in-process OpenSSL peer (tests/foreign/test_openssl.py) links Debian's static libssl
        [ -f /usr/include/openssl/ssl.h ] || apt_install libssl-dev
        # the in-process GnuTLS peer's headers (tests/foreign/test_gnutls.py)
        [ -f /usr/include/gnutls/gnutls.h ] || apt_install libgnutls28-dev
        setup
        # With arguments: just that pytest selection.  Without (CI, a full run):
        # the suite, then the second library variant ($MBEDTLS_PY_CI_VARIANT,
        # default 3.6.6; empty to skip) built side by side and its key tests.
        variant=${MBEDTLS_PY_CI_VARIANT-3.6.6}
        if [ $# -gt 0 ]; then
            exec "$VENV/bin/python" -m pytest -q "$@"
        fi
        # Lint and types as their own steps (a failure names its tool); pytest then
        # skips the one test that would run mypy a second time.
        echo "dev.sh: ruff check..." >&2
        "$VENV/bin/python" -m ruff check . || exit 1
        echo "dev.sh: mypy --strict (tools/typecheck.py)..." >&2
        "$VENV/bin/python" tools/typecheck.py || exit 1
        rc=0
        "$VENV/bin/python" -m pytest -q \
            --deselect tests/project/test_types.py::test_mypy_package_readme_and_tests || rc=$?
        if [ -n "$variant" ]; then
            echo "dev.sh: key tests on library variant $variant..." >&2
            "$VENV/bin/python" -m mbedtls_py build-variant -q "$variant" || exit 1
            "$VENV/bin/python" -m pytest -q -p no:cacheprovider --mbedtls-variant "$variant" \
                $VARIANT_TESTS || rc=$?
        fi
        variant4 || rc=$?
        if [ "${MBEDTLS_PY_CI_RELEASE:-1}" != 0 ]; then
            echo "dev.sh: the release checks (sdist, wheel, auditwheel, the installed wheel)..." >&2
            case "$VENV" in /*) venv_abs=$VENV ;; *) venv_abs=$PWD/$VENV ;; esac
            VENV="$venv_abs" tools/release_check.sh || rc=$?
        fi
        if [ "${MBEDTLS_PY_CI_SANITIZE:-1}" != 0 ]; then
            echo "dev.sh: the short sanitizer pass (ASan+UBSan)..." >&2
            ( sanitize ) || rc=$?
        fi
        exit $rc
        ;;
    shell)
        setup
        exec bash --rcfile <(echo "source $VENV/bin/activate")
        ;;
    sanitize)
        sanitize "$@"
        ;;
    *)
        sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
        [ -z "$cmd" ] || [ "$cmd" = -h ] || [ "$cmd" = --help ] || exit 2
        ;;
esac
