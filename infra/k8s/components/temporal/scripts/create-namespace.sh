#!/bin/sh
# The namespace Naestro runs in ($NAMESPACE, retention $RETENTION), created once. Naestro's
# search attributes are added by its workers at start (naestro/admin.py).
set -eu
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  sleep 2
done
if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE: exists"
else
  temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION" \
    --address "$TEMPORAL_ADDRESS"
fi
