#!/usr/bin/env bash
# The test command of README.md: every unit, property and integration test of the workspace.
# Integration tests start the real `skiff` binary and drive the real kubectl; the etcd tests
# start real etcd members (Debian's etcd-server) on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
cargo test --workspace --locked --no-fail-fast -- --test-threads="${SKIFF_TEST_THREADS:-4}" || status=$?
# The API tests that matter for storage once more, with every server on its own etcd.
echo "== the storage-facing API tests again, on etcd (SKIFF_TEST_DATASTORE=etcd)"
SKIFF_TEST_DATASTORE=etcd cargo test -p skiff --locked --no-fail-fast \
  --test api_semantics --test kube_client --test kubectl_basics --test kubectl_changes \
  -- --test-threads="${SKIFF_TEST_THREADS:-4}" || status=$?
exit $status
