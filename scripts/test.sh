#!/usr/bin/env bash
# The test command (README): setup, import-cycle check, the host suite
# (unit + real-kernel tests), then the VM lane (stock Debian kernel under
# qemu, for the kernel GRE family). Ends with one line: N passed, N failed[, N skipped].
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

rm -rf .test-results && mkdir -p .test-results
status=0

echo "== import cycles (madge)"
if npx --no-install madge --circular --extensions ts --ts-config tsconfig.json src >.test-results/madge.txt 2>&1; then
  echo '{"numPassedTests":1,"numFailedTests":0,"numPendingTests":0}' >.test-results/madge.json
else
  cat .test-results/madge.txt
  echo '{"numPassedTests":0,"numFailedTests":1,"numPendingTests":0}' >.test-results/madge.json
  status=1
fi

echo "== host suite (vitest)"
# (The leak check writes .test-results/leaks.json when a test left a namespace behind.)
VISP_TEST_RESULTS=.test-results npx --no-install vitest run --reporter=default --reporter=json \
  --outputFile.json=.test-results/host.json || status=1
# A run that died before writing its report is a failure in the closing line
# too (as the VM lane records one), not just in the exit status.
[[ -s .test-results/host.json ]] \
  || echo '{"numPassedTests":0,"numFailedTests":1,"numPendingTests":0}' >.test-results/host.json

echo "== VM lane (stock Debian kernel under qemu)"
bash test/vm/lane.sh || status=1

node scripts/summarize.mjs .test-results || status=1
exit $status
