#!/usr/bin/env bash
# Deploy Firewatch safely: tests, lint and types, alerts.yaml validation, functions, hosting,
# the health check, then a watch of error rate and P95 against the hour before.
# Stops at the first failing step and says which one. --dry-run prints the steps only.
#
# Usage: scripts/zero_downtime_deploy.sh --project ID --health-url URL [--minutes N]
#        [--skip-tests] [--dry-run]
# Environment: FIREBASE (default: firebase), FIREWATCH (default: functions/venv/bin/firewatch),
# CHECK, HEALTH_CHECK, MONITOR (default: the scripts beside this one)
set -euo pipefail

cd "$(dirname "$0")/.."
FIREBASE=${FIREBASE:-firebase}
FIREWATCH=${FIREWATCH:-functions/venv/bin/firewatch}
CHECK=${CHECK:-scripts/check}
HEALTH_CHECK=${HEALTH_CHECK:-scripts/health_check.sh}
MONITOR=${MONITOR:-scripts/monitor_deployment.sh}

project=""
health_url=""
minutes=10
skip_tests=false
dry_run=false

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --project) project=${2:?--project needs a value}; shift 2 ;;
    --health-url) health_url=${2:?--health-url needs a value}; shift 2 ;;
    --minutes) minutes=${2:?--minutes needs a value}; shift 2 ;;
    --skip-tests) skip_tests=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "zero_downtime_deploy: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$project" ] || [ -z "$health_url" ]; then
  echo "zero_downtime_deploy: --project and --health-url are required (see --help)" >&2
  exit 2
fi

step_number=0
step() {
  # step "description" command args...
  local description=$1
  shift
  step_number=$((step_number + 1))
  echo "==> step ${step_number}: ${description}"
  if $dry_run; then
    echo "    would run: $*"
    return 0
  fi
  if ! "$@"; then
    echo "zero_downtime_deploy: step ${step_number} (${description}) failed; nothing after it ran." >&2
    exit 1
  fi
}

if ! $skip_tests; then
  step "tests" make test
fi
step "lint and type checks" "$CHECK"
step "validate alerts.yaml" "$FIREWATCH" alerts validate alerts.yaml
step "deploy functions" "$FIREBASE" deploy --only functions --project "$project" --non-interactive
step "deploy hosting" "$FIREBASE" deploy --only hosting --project "$project" --non-interactive
step "health check" "$HEALTH_CHECK" "$health_url"
step "watch error rate and P95 for ${minutes} min" \
  "$MONITOR" --minutes "$minutes" --project "$project"

if $dry_run; then echo "zero_downtime_deploy: dry run, nothing was changed"; else echo "zero_downtime_deploy: deployed"; fi
