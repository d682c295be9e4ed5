#!/usr/bin/env bash
# Ask a deployed health_check endpoint whether the app is up, for deploy scripts and cron.
#
# Usage: scripts/health_check.sh URL
#   exits 0 when the answer is 200 with status healthy or degraded, 1 otherwise, 2 on usage
#   errors; prints one line, e.g. "health_check: healthy (HTTP 200, 41 ms) https://...".
#
# Environment (all optional):
#   FIREWATCH_API_KEY         sent as X-API-Key: the answer then names the unhealthy checks
#   HEALTH_CHECK_TIMEOUT      seconds to wait for an answer (default 10)
#   HEALTH_CHECK_ATTEMPTS     tries before giving up, for instances still starting (default 1)
#   HEALTH_CHECK_RETRY_DELAY  seconds between tries (default 5)
set -euo pipefail

if [ "$#" -ne 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: scripts/health_check.sh URL   (see the comment at the top for options)" >&2
  exit 2
fi

url=$1
timeout=${HEALTH_CHECK_TIMEOUT:-10}
attempts=${HEALTH_CHECK_ATTEMPTS:-1}
delay=${HEALTH_CHECK_RETRY_DELAY:-5}
body=$(mktemp)
trap 'rm -f "$body"' EXIT

headers=(-H "Accept: application/json")
if [ -n "${FIREWATCH_API_KEY:-}" ]; then
  headers+=(-H "X-API-Key: ${FIREWATCH_API_KEY}")
fi

check_once() {
  local result code seconds status ms failing
  : >"$body"
  # curl's own failure (refused, timed out) is an answer too: HTTP 000.
  result=$(curl -sS -o "$body" -w '%{http_code} %{time_total}' --max-time "$timeout" \
    "${headers[@]}" "$url" 2>/dev/null) || result=${result:-"000 $timeout"}
  code=${result%% *}
  seconds=${result##* }
  ms=$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 1000 }')
  # The overall status is the first key of both answers (the checks' own come later).
  status=$(sed -nE 's/^[{][[:space:]]*"status":[[:space:]]*"(healthy|degraded|unhealthy)".*/\1/p' \
    "$body" | head -n 1)
  status=${status:-unknown}
  failing=$(grep -o '"name":"[^"]*","status":"unhealthy"' "$body" | cut -d'"' -f4 | paste -sd, - || true)

  summary="health_check: ${status} (HTTP ${code}, ${ms} ms) ${url}"
  if [ "$code" = "000" ]; then
    summary="health_check: no answer within ${timeout} s from ${url}"
  fi
  if [ -n "$failing" ]; then
    summary="${summary}; unhealthy: ${failing}"
  fi
  [ "$code" = "200" ] && { [ "$status" = "healthy" ] || [ "$status" = "degraded" ]; }
}

attempt=1
while true; do
  if check_once; then
    echo "$summary"
    exit 0
  fi
  if [ "$attempt" -ge "$attempts" ]; then
    echo "$summary"
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$delay"
done
