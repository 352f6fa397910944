#!/usr/bin/env bash
# Scans tied to (sub)transactions: cursors across savepoints, errors in the
# middle of a fan-out inside a subtransaction, WITH HOLD cursors, two-phase
# commit; exact rows, and descriptors and memory flat over 1,000 iterations
# (test/transactions.py; the cluster needs max_prepared_transactions > 0).
set -uo pipefail
exec python3 "$(dirname "$0")/../transactions.py" 1000
