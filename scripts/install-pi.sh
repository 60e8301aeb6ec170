#!/usr/bin/env bash
# Install macrorig as a service on a Raspberry Pi (Raspberry Pi OS Bookworm or newer).
#
#   sudo scripts/install-pi.sh            # install or upgrade, then (re)start the service
#   scripts/install-pi.sh --dry-run --root "$(mktemp -d)"   # show what it would do
#
# Options:
#   --force       install on an OS that is not Raspberry Pi OS Bookworm or newer
#   --dry-run     run no command (apt-get, useradd, pip, systemctl...): print each one
#   --root DIR    with --dry-run: write files under DIR instead of /, and read the OS
#                 release, users and groups from DIR/etc (for tests and previews)
#
# Safe to run again: it keeps an existing /etc/macrorig/config.toml and /var/lib/macrorig,
# only rewrites the unit file when it changed, and upgrades the venv from this checkout.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

service=macrorig
user=macrorig
venv=/opt/macrorig/venv
config_dir=/etc/macrorig
config=$config_dir/config.toml
state_dir=/var/lib/macrorig
unit=/etc/systemd/system/$service.service
port=8000

dry_run=0
force=0
root=""

usage() {
    sed -n '2,14s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --force) force=1 ;;
        --root)
            [ $# -ge 2 ] || { echo "install-pi.sh: --root needs a directory" >&2; exit 2; }
            root="$2"
            shift
            ;;
        --root=*) root="${1#--root=}" ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install-pi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=scripts/pi-common.sh
. "$(dirname "$0")/pi-common.sh"
check_root_options install-pi.sh

# --- Is this Raspberry Pi OS Bookworm (12) or newer? ------------------------------
# The 64-bit Raspberry Pi OS says ID=debian in os-release, so the distribution is told
# by /etc/rpi-issue or by the Raspberry Pi apt archive (the only source of
# python3-picamera2 and the libcamera Python bindings).
check_os() {
    local id="" version="" name="" release=""
    if [ -r "$root/etc/os-release" ]; then
        # In a subshell: os-release is shell syntax, but its variables stay out of ours.
        # shellcheck disable=SC1091  # the target system's file, read at run time
        release="$(. "$root/etc/os-release" && printf '%s\n' "${ID:-}" "${VERSION_ID:-}" "${PRETTY_NAME:-}")"
        { read -r id; read -r version; read -r name; } <<<"$release" || true
    fi
    name="${name:-an unknown system}"
    local problem=""
    if [ "$id" != debian ] && [ "$id" != raspbian ]; then
        problem="$name is not Raspberry Pi OS"
    elif ! [[ "$version" =~ ^[0-9]+$ ]] || [ "$version" -lt 12 ]; then
        problem="$name is older than Raspberry Pi OS Bookworm (12)"
    elif ! [ -e "$root/etc/rpi-issue" ] &&
        ! grep -rqs 'archive\.raspberrypi\.\(com\|org\)' "$root/etc/apt/sources.list" "$root/etc/apt/sources.list.d"; then
        problem="$name is Debian, not Raspberry Pi OS (no /etc/rpi-issue, no archive.raspberrypi.com apt source)"
    fi
    if [ -n "$problem" ]; then
        if [ "$force" -eq 1 ]; then
            note "warning: $problem; going on because of --force"
        else
            echo "install-pi.sh: $problem; python3-picamera2 comes only from Raspberry Pi OS's apt archive (use --force to try anyway)" >&2
            exit 1
        fi
    else
        note "system: $name"
    fi
}

# --- Users and groups, read from the target's /etc (so --root previews work) ------
has_user() { grep -q "^$1:" "$root/etc/passwd" 2>/dev/null; }
has_group() { grep -q "^$1:" "$root/etc/group" 2>/dev/null; }
in_group() { # in_group USER GROUP: listed as a supplementary member
    grep -Eq "^$2:[^:]*:[^:]*:(.*,)?$1(,|$)" "$root/etc/group" 2>/dev/null
}

setup_user() {
    # gpio: /dev/gpiochip*; video: camera, ISP, /dev/dma_heap; render: GPU render nodes
    # (Raspberry Pi OS has it; harmless, and there if a preview ever uses the GPU).
    if ! has_group gpio; then
        # Raspberry Pi OS always has it; elsewhere (--force) the unit's
        # SupplementaryGroups=gpio would stop the service from starting without it.
        run groupadd --system gpio
        note "note: group gpio created; give it /dev/gpiochip* with a udev rule (see the README, Real rig)"
    fi
    local groups=(gpio video)
    if has_group render; then
        groups+=(render)
    fi
    if ! has_user "$user"; then
        # A system user: no password, no login shell; its home is the state directory.
        run useradd --system --user-group --no-create-home \
            --home-dir "$state_dir" --shell /usr/sbin/nologin \
            --groups "$(IFS=,; echo "${groups[*]}")" "$user"
    else
        local group
        for group in "${groups[@]}"; do
            if ! in_group "$user" "$group"; then
                run usermod --append --groups "$group" "$user"
            fi
        done
    fi
}

# --- Files: always under $root ------------------------------------------------------
make_dir() { # make_dir MODE PATH
    if [ ! -d "$root$2" ]; then
        install -d -m "$1" "$root$2"
        note "created $2/"
    fi
}

# install_file MODE SOURCE DEST: copy when DEST is missing or differs (so a second run
# leaves an unchanged file alone, timestamps included); sets $changed to 1 or 0.
install_file() {
    changed=0
    if [ -f "$root$3" ] && cmp -s "$2" "$root$3"; then
        note "unchanged $3"
        return
    fi
    local verb=created
    if [ -e "$root$3" ]; then
        verb=updated
    fi
    install -m "$1" "$2" "$root$3"
    changed=1
    note "$verb $3"
}

# --- The install ------------------------------------------------------------------
check_os

# picamera2 and the libcamera bindings exist only as apt packages (built against the
# system's libcamera); lgpio from apt is the GPIO library for every Pi incl. the Pi 5
# (RPi.GPIO does not work there); python3-venv makes the venv.
export DEBIAN_FRONTEND=noninteractive
run apt-get update
run apt-get install -y python3-picamera2 python3-venv python3-lgpio

setup_user

make_dir 0755 /opt/macrorig
# --system-site-packages: the venv sees apt's picamera2, libcamera and lgpio.
if [ ! -x "$root$venv/bin/python" ]; then
    run python3 -m venv --system-site-packages "$venv"
fi
# Not editable: the service runs a copy, so this checkout can change or go away.
run "$venv/bin/pip" install --disable-pip-version-check --upgrade "${repo}[pi]"
# simplejpeg from PyPI into the venv: macrorig pulls numpy 2 into the venv, and apt's
# simplejpeg (which picamera2 imports) is built for Debian's numpy 1 and fails to import
# with it (raspberrypi/picamera2#1088, #1211); the PyPI wheel is built for numpy 2.
# Forced: pip counts apt's copy, seen through --system-site-packages, as installed, so
# `--upgrade` would keep it whenever PyPI's version is not newer.  --no-deps: numpy is
# already the venv's own (from the line above), nothing else may change.
run "$venv/bin/pip" install --disable-pip-version-check --force-reinstall --no-deps simplejpeg
# Fail here, not in the journal later, if the camera library cannot be imported.
run "$venv/bin/python" -c "import picamera2"

make_dir 0755 "$config_dir"
if [ -e "$root$config" ]; then
    note "kept $config (already there; compare with $repo/rig/examples/pi-hq-tmc2209.toml)"
else
    install -m 0644 "$repo/rig/examples/pi-hq-tmc2209.toml" "$root$config"
    note "created $config from rig/examples/pi-hq-tmc2209.toml: edit it for your rig"
fi

# systemd would create it too (StateDirectory=), but it is the user's home from now on.
make_dir 0750 "$state_dir"
run chown "$user:$user" "$state_dir"

upgrade=0
if [ -e "$root$unit" ]; then
    upgrade=1
fi
make_dir 0755 "$(dirname "$unit")"
install_file 0644 "$repo/systemd/$service.service" "$unit"
if [ "$changed" -eq 1 ]; then
    run systemctl daemon-reload
fi
run systemctl enable --now "$service.service"
if [ "$upgrade" -eq 1 ]; then
    # enable --now leaves a running service alone: restart it onto the new code.
    run systemctl restart "$service.service"
fi

# --- Where to find it -----------------------------------------------------------------
host="$(cat "$root/etc/hostname" 2>/dev/null || uname -n)"
ip="$(hostname -I 2>/dev/null | awk '{print $1}' || true)"
note ""
note "macrorig is installed."
note "  phone:  http://$host.local:$port/${ip:+   (or http://$ip:$port/)}"
note "  token:  sudo cat $state_dir/api-token   (the web page asks for it once)"
note "  config: $config   (then: sudo systemctl restart $service)"
note "  logs:   journalctl -u $service -f"
