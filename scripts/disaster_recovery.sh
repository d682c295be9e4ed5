#!/usr/bin/env bash
# Recover Firewatch's project after a disaster: assess, restore the database, redeploy, verify.
#
# Usage: scripts/disaster_recovery.sh [options]
#   --backup ID        restore this backup (default: the newest good one, `firewatch backup list`)
#   --project ID       Firebase project (default: `gcloud config get-value project`)
#   --health-url URL   the deployed health_check endpoint; without it the checks run locally
#                      (`firewatch health`)
#   --skip-assess      skip the damage assessment (health check before anything)
#   --skip-restore     skip the database restore
#   --skip-deploy      skip `firebase deploy --only functions`
#   --skip-verify      skip the health verification at the end
#   --dry-run          assess, and show what the other steps would do; change nothing
#   --yes              do not ask before overwriting the database
#   -h, --help         this text
#
# Exit status: 0 recovered (or dry run done), 1 a step failed, 2 usage error.
# Environment: FIREWATCH, FIREBASE, GCLOUD name the commands (default: on PATH);
#   HEALTH_CHECK_ATTEMPTS is passed on to scripts/health_check.sh for the final check.
# The operations guide promises a full recovery within four hours; each step prints its time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
firewatch=${FIREWATCH:-firewatch}
firebase=${FIREBASE:-firebase}
gcloud=${GCLOUD:-gcloud}

backup="" project="" health_url=""
skip_assess=0 skip_restore=0 skip_deploy=0 skip_verify=0 dry_run=0 yes=0

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "disaster_recovery: $1" >&2; exit "${2:-1}"; }

while [ "$#" -gt 0 ]; do
  case $1 in
    --backup) [ "$#" -ge 2 ] || die "--backup needs a backup id" 2; backup=$2; shift 2 ;;
    --project) [ "$#" -ge 2 ] || die "--project needs a project id" 2; project=$2; shift 2 ;;
    --health-url) [ "$#" -ge 2 ] || die "--health-url needs a URL" 2; health_url=$2; shift 2 ;;
    --skip-assess) skip_assess=1; shift ;;
    --skip-restore) skip_restore=1; shift ;;
    --skip-deploy) skip_deploy=1; shift ;;
    --skip-verify) skip_verify=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    --yes) yes=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" 2 ;;
  esac
done

started=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - started )) s since start)"; }

# Run a command that changes something, or only print it in a dry run.
act() {
  if [ "$dry_run" -eq 1 ]; then
    echo "   would run: $*"
  else
    echo "   running: $*"
    "$@"
  fi
}

health() {
  if [ -n "$health_url" ]; then
    "$here/health_check.sh" "$health_url"
  else
    "$firewatch" health
  fi
}

if [ -z "$project" ] && [ "$skip_deploy" -eq 0 ]; then
  project=$("$gcloud" config get-value project 2>/dev/null || true)
  [ -n "$project" ] || die "no project: pass --project or run \`gcloud config set project ID\`" 2
fi

if [ "$skip_assess" -eq 0 ]; then
  step "1/4 damage assessment"
  # An unhealthy answer is the expected damage here, not a reason to stop.
  if health; then echo "   health: ok before recovery"; else echo "   health: failing before recovery"; fi
fi

if [ "$skip_restore" -eq 0 ]; then
  step "2/4 restore the database from ${backup:-the newest good backup}"
  args=(backup restore-all --actor disaster_recovery.sh)
  [ -n "$backup" ] && args+=(--backup "$backup")
  if [ "$dry_run" -eq 1 ]; then
    # The tool's own dry run reads the backup and counts what it would write.
    "$firewatch" "${args[@]}" --dry-run
  else
    if [ "$yes" -eq 0 ]; then
      read -r -p "   overwrite the database of ${project:-this project}? [y/N] " answer
      [ "$answer" = "y" ] || [ "$answer" = "Y" ] || die "stopped before the restore" 1
    fi
    "$firewatch" "${args[@]}" --yes
  fi
fi

if [ "$skip_deploy" -eq 0 ]; then
  step "3/4 redeploy the functions"
  act "$firebase" deploy --only functions --project "$project" --non-interactive
fi

if [ "$skip_verify" -eq 0 ]; then
  step "4/4 verify health"
  if [ "$dry_run" -eq 1 ]; then
    echo "   would check health"
  else
    export HEALTH_CHECK_ATTEMPTS=${HEALTH_CHECK_ATTEMPTS:-5}
    health || die "health check failed after recovery" 1
  fi
fi

step "done"
