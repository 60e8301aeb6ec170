#!/usr/bin/env bash
# Remove the macrorig service installed by scripts/install-pi.sh.
#
#   sudo scripts/uninstall-pi.sh           # stop and remove the service and its venv
#   sudo scripts/uninstall-pi.sh --purge   # also the config, the stacks and the user
#   scripts/uninstall-pi.sh --dry-run --root "$(mktemp -d)"   # show what it would do
#
# Options:
#   --purge       also delete /etc/macrorig, /var/lib/macrorig (every stack!) and the
#                 macrorig user; without it they stay, ready for a reinstall
#   --dry-run     run no command (systemctl, userdel): print each one
#   --root DIR    with --dry-run: remove files under DIR instead of /, and read users
#                 from DIR/etc/passwd (for tests and previews)
#
# Safe to run again: what is already gone is skipped.
set -euo pipefail

service=macrorig
user=macrorig
install_dir=/opt/macrorig
config_dir=/etc/macrorig
state_dir=/var/lib/macrorig
unit=/etc/systemd/system/$service.service

dry_run=0
purge=0
root=""

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --purge) purge=1 ;;
        --root)
            [ $# -ge 2 ] || { echo "uninstall-pi.sh: --root needs a directory" >&2; exit 2; }
            root="$2"
            shift
            ;;
        --root=*) root="${1#--root=}" ;;
        -h | --help) usage; exit 0 ;;
        *) echo "uninstall-pi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=scripts/pi-common.sh
. "$(dirname "$0")/pi-common.sh"
check_root_options uninstall-pi.sh

remove() { # remove PATH: a file or a whole directory, under $root
    case "$1" in
        /?*) ;; # one of the absolute paths above; never "" or "/"
        *) echo "uninstall-pi.sh: refusing to remove '$1'" >&2; exit 2 ;;
    esac
    if [ -e "$root$1" ] || [ -L "$root$1" ]; then
        rm -rf -- "$root$1"
        note "removed $1"
    fi
}

if [ -e "$root$unit" ]; then
    # Stopping runs the unit's ExecStopPost (`macrorig rail release`) while the venv is
    # still there: the driver ends disabled and the LED off.
    run systemctl disable --now "$service.service"
    remove "$unit"
    run systemctl daemon-reload
    # Forget a failed state, so `systemctl list-units --failed` does not keep showing it.
    run systemctl reset-failed "$service.service" || true
else
    note "no $unit: the service is not installed"
fi

remove "$install_dir"

if [ "$purge" -eq 1 ]; then
    remove "$config_dir"
    remove "$state_dir"
    if grep -q "^$user:" "$root/etc/passwd" 2>/dev/null; then
        run userdel "$user"
    fi
    note "purged: configuration, stacks and the $user user are gone"
else
    for kept in "$config_dir" "$state_dir"; do
        if [ -e "$root$kept" ]; then
            note "kept $kept (remove it with --purge)"
        fi
    done
fi
