#!/bin/sh
# Install the Debian packages femvalid needs headless (gmsh's wheel, VTK off-screen
# rendering, pango for the PDF report, Python venv support), and those its report tests
# drive (chromium, headless, for the report and the 3D viewer; poppler-utils' pdftoppm and
# pdftotext for the PDF). As root they are installed with apt; otherwise the missing ones
# are named with the command that installs them.
set -eu

PKGS="libglu1-mesa libgl1 libxrender1 libxcursor1 libxft2 libxinerama1 libgomp1 libosmesa6 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
PKGS="$PKGS chromium poppler-utils"
PYTHON="${PYTHON:-python3}"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "ensure-syslibs: not a Debian system; make sure these libraries are present: $PKGS" >&2
    exit 0
fi

# Debian's own python3 needs python3-venv for `python3 -m venv`.
if ! "$PYTHON" -c "import ensurepip" >/dev/null 2>&1; then
    PKGS="$PKGS python3-venv"
fi

missing=""
for p in $PKGS; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    echo "ensure-syslibs: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "ensure-syslibs: installing$missing (sudo)"
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "femvalid needs these Debian packages, which are missing:$missing" >&2
    echo "install them as root with:  apt-get install -y$missing" >&2
    exit 1
fi
