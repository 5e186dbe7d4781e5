#!/usr/bin/env bash
# One release, one tag: migrate, wait, roll out, watch.
#
#   deploy/k8s/release.sh 0.2.0
#
# 1. Writes TAG into kustomization.yaml `images:`, the one place the tag lives: kustomize sets
#    it on both the Deployment and the migration Job. Commit that change with the release.
# 2. Deletes the previous migration Job (a Job's pod template is immutable) and applies
#    everything except the API workload (label app.kubernetes.io/component=api): namespace,
#    service account, ConfigMap, network policies, alert rules, and the new migration Job.
# 3. Waits for the Job. If it fails, stops here with its log: the Deployment is untouched and
#    the old pods keep serving.
# 4. Applies everything (the same rendering, so the Job is unchanged) and watches the rollout.
#
# Environment: KUBECTL (kubectl), NAMESPACE (tickettoken), MIGRATE_TIMEOUT_SECONDS (600),
# ROLLOUT_TIMEOUT (10m). Needs kubectl >= 1.27 (built-in kustomize) and, for
# prometheusrule.yaml, the Prometheus Operator's CRDs (see README.md).

set -euo pipefail

TAG="${1:-}"
[[ "$TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || {
  echo "usage: $0 TAG   (an image tag of tickettoken/event-service, e.g. 0.2.0)" >&2
  exit 2
}
DIR="$(cd "$(dirname "$0")" && pwd)"
KUBECTL="${KUBECTL:-kubectl}"
NS="${NAMESPACE:-tickettoken}"
IMAGE="tickettoken/event-service"
JOB="event-service-migrate"
step() { printf '==> %s\n' "$*" >&2; }

step "setting $IMAGE:$TAG in kustomization.yaml"
sed -i -E "s/^(    newTag: ).*/\1\"$TAG\"/" "$DIR/kustomization.yaml"
RENDERED="$(mktemp)"
trap 'rm -f "$RENDERED"' EXIT
$KUBECTL kustomize "$DIR" > "$RENDERED"
uses=$(grep -c "image: $IMAGE:$TAG\$" "$RENDERED" || true)
[[ "$uses" == 2 ]] || { echo "expected the Deployment and the Job on $IMAGE:$TAG, found $uses" >&2; exit 1; }

step "migrating: replacing Job $JOB"
$KUBECTL -n "$NS" delete job "$JOB" --ignore-not-found --wait=true
$KUBECTL apply -f "$RENDERED" --selector 'app.kubernetes.io/component!=api'

deadline=$((SECONDS + ${MIGRATE_TIMEOUT_SECONDS:-600}))
while :; do
  conditions="$($KUBECTL -n "$NS" get job "$JOB" -o jsonpath='{.status.conditions[?(@.status=="True")].type}')"
  case " $conditions " in
    *" Complete "*) break ;;
    *" Failed "*)
      $KUBECTL -n "$NS" logs "job/$JOB" --tail=50 >&2 || true
      echo "migration failed: the Deployment was not touched" >&2
      exit 1 ;;
  esac
  ((SECONDS < deadline)) || { echo "migration did not finish in time" >&2; exit 1; }
  sleep 5
done
$KUBECTL -n "$NS" logs "job/$JOB" --tail=5 >&2 || true

step "rolling out $IMAGE:$TAG"
$KUBECTL apply -f "$RENDERED"
$KUBECTL -n "$NS" rollout status deployment/event-service --timeout="${ROLLOUT_TIMEOUT:-10m}"
step "released $IMAGE:$TAG; commit deploy/k8s/kustomization.yaml"
