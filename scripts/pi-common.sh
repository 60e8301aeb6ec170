# Shared by install-pi.sh and uninstall-pi.sh (sourced, not run): option rules and the
# run/note helpers.  Expects $dry_run and $root to be set by the caller.
# shellcheck shell=bash
# shellcheck disable=SC2154  # dry_run and root belong to the sourcing script

# --root only makes sense for a dry run: real commands (apt-get, useradd, systemctl)
# would act on this machine while the files went elsewhere.  Sets $root to its
# absolute path.  $1: the calling script's name, for messages.
check_root_options() {
    local me="$1"
    if [ -n "$root" ]; then
        [ "$dry_run" -eq 1 ] || { echo "$me: --root needs --dry-run" >&2; exit 2; }
        [ -d "$root" ] || { echo "$me: --root $root is not a directory" >&2; exit 2; }
        root="$(cd "$root" && pwd)"
    elif [ "$dry_run" -eq 1 ]; then
        echo "$me: --dry-run needs --root DIR (the root to act on)" >&2
        exit 2
    elif [ "$(id -u)" -ne 0 ]; then
        echo "$me: run as root: sudo $0" >&2
        exit 2
    fi
}

# Run a command, or in a dry run only show it.  Either way it is printed first, so
# the output is a record of what was done.
run() {
    local arg line="+"
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
            line+=" $arg"
        else # quoted so that the line can be pasted into a shell
            line+=" '${arg//\'/\'\\\'\'}'"
        fi
    done
    printf '%s\n' "$line"
    if [ "$dry_run" -eq 0 ]; then
        "$@"
    fi
}

note() { printf '%s\n' "$*"; }
