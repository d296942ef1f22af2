#!/bin/sh
# Image entrypoint: OpenFaaS mounts secrets as files (/var/openfaas/secrets/<key>) instead of
# environment variables, while the billing settings read the environment only (README, "Configuration").
# Export every such file whose name is an environment variable name and is not already set, then run
# the command. On Knative and plain Kubernetes the directory does not exist and nothing changes.
set -eu
SECRETS_DIR=${BILLING_SECRETS_DIR:-/var/openfaas/secrets}
if [ -d "$SECRETS_DIR" ]; then
  for file in "$SECRETS_DIR"/*; do
    [ -f "$file" ] || continue
    name=$(basename "$file")
    case "$name" in
      *[!A-Za-z0-9_]* | [0-9]*) continue ;;
    esac
    if eval "[ -z \"\${$name+x}\" ]"; then
      value=$(cat "$file")
      export "$name=$value"
    fi
  done
fi
exec "$@"
