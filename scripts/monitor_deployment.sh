#!/usr/bin/env bash
# Watch a fresh deployment: for N minutes, compare the error rate and P95 response time since
# the deploy with the hour before it. Exits 1 and prints the rollback command when either is
# worse by more than the margin; exits 0 when the deployment held.
#
# Usage: scripts/monitor_deployment.sh [--minutes N] [--margin FRACTION] [--interval SECONDS]
#        [--since ISO-TIME] [--project ID]
# Environment: FIREWATCH (default: functions/venv/bin/firewatch)
set -euo pipefail

cd "$(dirname "$0")/.."
FIREWATCH=${FIREWATCH:-functions/venv/bin/firewatch}

minutes=10
margin=0.2
interval=60
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
project=""

while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=${2:?--minutes needs a value}; shift 2 ;;
    --margin) margin=${2:?--margin needs a value}; shift 2 ;;
    --interval) interval=${2:?--interval needs a value}; shift 2 ;;
    --since) since=${2:?--since needs a value}; shift 2 ;;
    --project) project=${2:?--project needs a value}; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "monitor_deployment: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

rollback_hint() {
  local previous
  previous=$(git rev-parse --short HEAD~1 2>/dev/null || echo "<previous-commit>")
  echo "monitor_deployment: roll back with:" >&2
  echo "  git checkout ${previous} && firebase deploy --only functions${project:+ --project $project}" >&2
}

# One check per interval; an interval of 0 runs one check per minute without waiting.
if [ "$interval" -gt 0 ]; then
  checks=$(( (minutes * 60 + interval - 1) / interval ))
else
  checks=$minutes
fi
[ "$checks" -ge 1 ] || checks=1
for ((i = 1; i <= checks; i++)); do
  set +e
  report=$("$FIREWATCH" deploy check --since "$since" --margin "$margin" --json)
  status=$?
  set -e
  echo "monitor_deployment: check ${i}/${checks}: ${report//$'\n'/ }"
  if [ "$status" -eq 1 ]; then
    echo "monitor_deployment: the deployment is worse than the hour before by more than ${margin}." >&2
    rollback_hint
    exit 1
  elif [ "$status" -ne 0 ]; then
    echo "monitor_deployment: could not compare KPIs (firewatch exited ${status})." >&2
    exit "$status"
  fi
  if [ "$i" -lt "$checks" ] && [ "$interval" -gt 0 ]; then
    sleep "$interval"
  fi
done
echo "monitor_deployment: error rate and P95 held for ${minutes} min."
