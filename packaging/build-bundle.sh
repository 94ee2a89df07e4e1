#!/usr/bin/env bash
# Build the one-folder desktop bundle packaging/dist/osteoplan/ with PyInstaller, then smoke-test it:
# the bundled `osteoplan --version` and `osteoplan screenshot --demo` (headless: Qt offscreen, VTK EGL).
#
#     bash packaging/build-bundle.sh        (or `make bundle`)
#
# Slow (minutes) and large (hundreds of MB): not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=.venv/bin/python
if [ ! -x "$PYTHON" ]; then
    bash packaging/setup-dev.sh
fi
if ! "$PYTHON" -m PyInstaller --version >/dev/null 2>&1; then
    .venv/bin/pip install --quiet "pyinstaller>=6.10"
fi

BUNDLE=packaging/dist/osteoplan
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath packaging/dist --workpath packaging/build packaging/osteoplan.spec
# The desktop entry and its icon travel with the bundle (see the README to install them).
mkdir -p "$BUNDLE/share/applications" "$BUNDLE/share/icons/hicolor/scalable/apps" \
    "$BUNDLE/share/icons/hicolor/256x256/apps"
cp packaging/osteoplan.desktop "$BUNDLE/share/applications/"
cp resources/icons/osteoplan.svg "$BUNDLE/share/icons/hicolor/scalable/apps/osteoplan.svg"
cp resources/icons/osteoplan-256.png "$BUNDLE/share/icons/hicolor/256x256/apps/osteoplan.png"
seconds=$(( $(date +%s) - start ))
echo "built $BUNDLE in ${seconds} s, $(du -sh "$BUNDLE" | cut -f1)"

# Smoke test, headless as in tests/conftest.py, with a fresh demo cache (the bundle makes the phantom).
if [ -z "${DISPLAY:-}" ]; then
    export QT_QPA_PLATFORM=offscreen VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
fi
export OSTEOPLAN_CACHE_DIR="$(mktemp -d)"
expected="osteoplan $("$PYTHON" -c 'import osteoplan; print(osteoplan.__version__)')"
version=$("$BUNDLE/osteoplan" --version)
if [ "$version" != "$expected" ]; then
    echo "bundle smoke test failed: --version printed '$version', expected '$expected'" >&2
    exit 1
fi
echo "$BUNDLE/osteoplan --version: $version"
SHOT=${BUNDLE_SCREENSHOT:-/tmp/bundle-shot.png}
rm -f "$SHOT"
"$BUNDLE/osteoplan" screenshot --demo --out "$SHOT"
"$BUNDLE/osteoplan" devices | tail -n 1
if [ ! -s "$SHOT" ]; then
    echo "bundle smoke test failed: no screenshot at $SHOT" >&2
    exit 1
fi
echo "bundle smoke test passed (screenshot: $SHOT)"
