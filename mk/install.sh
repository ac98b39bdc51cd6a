#!/usr/bin/env bash
# Installs or uninstalls mxkv; called by mk/install.mk, which sets the variables below.
#
#   install    copy the libraries, headers and a generated mxkv.pc into the prefix, recording
#              every file, symlink and directory it creates in the manifest
#   uninstall  remove what the manifest lists (files and symlinks, then the directories it
#              created, if they are empty), then the manifest itself
#
# The manifest holds paths as seen on the target system (without DESTDIR), one per line, each
# prefixed by its kind: "f" file, "l" symlink, "d" directory created by the install.
set -euo pipefail

action=${1:?usage: install.sh install|uninstall}
: "${PREFIX:?}" "${MXKV_LIBDIR:?}" "${MXKV_INCLUDEDIR:?}" "${MXKV_PKGCONFIGDIR:?}" "${MXKV_DATADIR:?}" "${MXKV_SRCDIR:?}"
DESTDIR=${DESTDIR:-}
MXNET_COMPAT=${MXNET_COMPAT:-0}
LDCONFIG=${LDCONFIG-ldconfig}

manifest=$MXKV_DATADIR/mxkv/install-manifest

# The version comes from Cargo.toml, the one place it is written down.
version=$(sed -n 's/^version *= *"\([0-9][0-9.]*\)".*/\1/p' "$MXKV_SRCDIR/Cargo.toml" | head -n 1)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "install: no version in Cargo.toml" >&2; exit 1; }
major=${version%%.*}
real_name=libmxkv.so.$version
soname=libmxkv.so.$major

declare -a entries=()

record() { entries+=("$1 $2"); }

# mkdir -p that records each directory it had to create, outermost first.
make_dir() {
    local dir=$1 missing=() d=$1
    [[ -z $DESTDIR ]] || mkdir -p "$DESTDIR"
    while [[ -n $d && $d != / && ! -d $DESTDIR$d ]]; do
        missing=("$d" "${missing[@]}")
        d=$(dirname "$d")
    done
    for d in "${missing[@]}"; do
        mkdir -m 0755 "$DESTDIR$d"
        record d "$d"
    done
    [[ -d $DESTDIR$dir ]]
}

install_file() { # mode source target
    make_dir "$(dirname "$3")"
    install -m "$1" "$2" "$DESTDIR$3"
    record f "$3"
}

install_link() { # link-text target
    make_dir "$(dirname "$2")"
    ln -sfn "$1" "$DESTDIR$2"
    record l "$2"
}

# A pkg-config variable for a directory: relative to ${prefix} where it lies below it.
pc_dir() {
    case $1 in
        "$PREFIX") echo '${prefix}' ;;
        "$PREFIX"/*) echo "\${prefix}/${1#"$PREFIX"/}" ;;
        *) echo "$1" ;;
    esac
}

write_pc() { # target
    local tmp
    tmp=$(mktemp)
    cat >"$tmp" <<EOF
prefix=$PREFIX
libdir=$(pc_dir "$MXKV_LIBDIR")
includedir=$(pc_dir "$MXKV_INCLUDEDIR")

Name: mxkv
Description: The Apache MXNet KVStore C API, as a small, fast, thread-safe C library
Version: $version
Libs: -L\${libdir} -lmxkv
Libs.private: -lpthread -ldl -lm
Cflags: -I\${includedir}
EOF
    install_file 0644 "$tmp" "$1"
    rm -f "$tmp"
}

do_install() {
    # Where `cargo build --release` put the library (CARGO_TARGET_DIR, an absolute path, moves it).
    local src=${CARGO_TARGET_DIR:-$MXKV_SRCDIR/target}/release inc=$MXKV_SRCDIR/include f
    for f in "$src/libmxkv.so" "$src/libmxkv.a" "$inc/mxkv.h" "$inc/mxnet/c_api.h"; do
        [[ -f $f ]] || { echo "install: $f is missing (build with 'make lib' first)" >&2; exit 1; }
    done
    local found
    found=$(readelf -d "$src/libmxkv.so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    if [[ $found != "$soname" ]]; then
        echo "install: warning: $src/libmxkv.so has SONAME '${found:-none}', expected '$soname'" >&2
    fi

    # Entries of an earlier install into this prefix stay listed, so that uninstall still
    # removes the directories that install created.
    if [[ -f $DESTDIR$manifest ]]; then
        mapfile -t entries <"$DESTDIR$manifest"
    fi

    install_file 0755 "$src/libmxkv.so" "$MXKV_LIBDIR/$real_name"
    install_link "$real_name" "$MXKV_LIBDIR/$soname"
    install_link "$soname" "$MXKV_LIBDIR/libmxkv.so"
    install_file 0644 "$src/libmxkv.a" "$MXKV_LIBDIR/libmxkv.a"
    if [[ $MXNET_COMPAT == 1 ]]; then
        # Programs linked against MXNet's libmxnet.so (SONAME libmxnet.so) load this one.
        install_link "$soname" "$MXKV_LIBDIR/libmxnet.so"
    fi
    install_file 0644 "$inc/mxkv.h" "$MXKV_INCLUDEDIR/mxkv.h"
    install_file 0644 "$inc/mxnet/c_api.h" "$MXKV_INCLUDEDIR/mxnet/c_api.h"
    write_pc "$MXKV_PKGCONFIGDIR/mxkv.pc"

    make_dir "$(dirname "$manifest")"
    record f "$manifest"
    printf '%s\n' "${entries[@]}" | awk '!seen[$0]++' >"$DESTDIR$manifest"
    chmod 0644 "$DESTDIR$manifest"

    if [[ -z $DESTDIR && -n $LDCONFIG && $(id -u) == 0 ]] && command -v "$LDCONFIG" >/dev/null 2>&1; then
        "$LDCONFIG" || true
    fi
    echo "installed mxkv $version into ${DESTDIR}$PREFIX (manifest: $manifest)"
}

do_uninstall() {
    if [[ ! -f $DESTDIR$manifest ]]; then
        echo "uninstall: no manifest at ${DESTDIR}$manifest: mxkv is not installed in this prefix" >&2
        exit 1
    fi
    local kind path dirs=()
    while read -r kind path; do
        case $kind in
            f | l) if [[ $path != "$manifest" ]]; then rm -f -- "$DESTDIR$path"; fi ;;
            d) dirs+=("$path") ;;
        esac
    done <"$DESTDIR$manifest"
    rm -f -- "$DESTDIR$manifest"
    # Created directories, deepest first; one that now holds foreign files stays.
    local d
    printf '%s\n' "${dirs[@]+"${dirs[@]}"}" | awk 'NF { print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- |
        while IFS= read -r d; do
            rmdir -- "$DESTDIR$d" 2>/dev/null || true
        done
    echo "uninstalled mxkv from ${DESTDIR}$PREFIX"
}

case $action in
    install) do_install ;;
    uninstall) do_uninstall ;;
    *) echo "usage: install.sh install|uninstall" >&2; exit 2 ;;
esac
