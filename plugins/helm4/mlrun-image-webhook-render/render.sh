#!/bin/sh
# Command of the Helm 4 post-renderer plugin (plugin.yaml): `mlrun-image-webhook render` on stdin/stdout.
# --post-renderer-args are passed through (e.g. --config=FILE); MLRUN_IMAGE_WEBHOOK_RENDER_CONFIG=FILE does the same.
# Runs the build of the repository this folder sits in (dist/, made by `npm install`), or the one on PATH.
set -eu
here=$(CDPATH='' cd -P -- "${HELM_PLUGIN_DIR:-$(dirname -- "$0")}" && pwd)
if [ -n "${MLRUN_IMAGE_WEBHOOK_RENDER_CONFIG:-}" ]; then
  set -- --config "$MLRUN_IMAGE_WEBHOOK_RENDER_CONFIG" "$@"
fi
cli="$here/../../../dist/cli/main.js"
# Helm 4.1 does not show a post-renderer plugin's stderr (neither the summary nor, on failure, the reason):
# MLRUN_IMAGE_WEBHOOK_RENDER_LOG=FILE appends it to FILE. Or run `helm template ... | mlrun-image-webhook render`.
if [ -n "${MLRUN_IMAGE_WEBHOOK_RENDER_LOG:-}" ]; then
  exec 2>>"$MLRUN_IMAGE_WEBHOOK_RENDER_LOG"
fi
if [ -f "$cli" ]; then
  exec node "$cli" render "$@"
fi
if command -v mlrun-image-webhook >/dev/null 2>&1; then
  exec mlrun-image-webhook render "$@"
fi
echo "mlrun-image-webhook-render: neither $cli (run npm install in the repository) nor mlrun-image-webhook on PATH" >&2
exit 2
