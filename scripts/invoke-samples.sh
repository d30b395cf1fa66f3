#!/usr/bin/env bash
# Runs every HTTP function once per sample event in events/ through cargo lambda's Lambda
# runtime emulator (`cargo lambda watch` + `cargo lambda invoke`), against the local stack,
# and checks the status code each one answers.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

gateway_port=${SAMPLES_GATEWAY_PORT:-3100}
moto_port=${SAMPLES_MOTO_PORT:-5105}
sim_port=${SAMPLES_SIMULATOR_PORT:-8188}
invoke_port=${SAMPLES_INVOKE_PORT:-9100}
logs=$(mktemp -d)

cleanup() {
  pkill -f "cargo-lambda lambda watch.*--invoke-port $invoke_port" 2>/dev/null || true
  [ -n "${devstack_pid:-}" ] && kill "$devstack_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_for_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "invoke-samples: nothing listened on port $1 ($2)" >&2
  cat "$logs"/*.log >&2
  return 1
}

cargo build --quiet --bin devstack --bin oauth --bin api --bin publisher --bin refresher --bin health --bin reconciler --bin events --bin notifier
DEV_GATEWAY_ADDR=127.0.0.1:$gateway_port DEV_MOTO_PORT=$moto_port \
  DEV_SIMULATOR_ADDR=127.0.0.1:$sim_port DEV_SIMULATOR_PROPAGATION_MS=0 DEV_CDN_ADDR=127.0.0.1:${SAMPLES_CDN_PORT:-8190} \
  "${CARGO_TARGET_DIR:-target}/debug/devstack" >"$logs/devstack.log" 2>&1 &
devstack_pid=$!
wait_for_port "$gateway_port" devstack
# The gateway's port opens before the stack is provisioned (queues, secrets, table): a function
# started now could find no client secret yet. Wait for devstack to say it is up.
for _ in $(seq 1 300); do
  grep -q "local stack is up" "$logs/devstack.log" && break
  sleep 0.5
done
grep -q "local stack is up" "$logs/devstack.log" || { echo "invoke-samples: devstack never came up" >&2; cat "$logs/devstack.log" >&2; exit 1; }

# The functions read the same configuration as in Lambda, pointed at the local stack; the
# client secret from Secrets Manager (the secret devstack put in moto; a name works as well
# as an ARN there).
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  LINKEDIN_CLIENT_ID=dev-client-id \
  LINKEDIN_CLIENT_SECRET_ARN=linkedin-connector/linkedin-client-secret \
  LINKEDIN_REDIRECT_URI=http://127.0.0.1:$gateway_port/v1/oauth/linkedin/callback \
  LINKEDIN_AUTH_BASE_URL=http://127.0.0.1:$sim_port LINKEDIN_API_BASE_URL=http://127.0.0.1:$sim_port \
  TABLE_NAME=linkedin-connector TOKEN_KEY_ID=alias/linkedin-connector-tokens \
  PUBLISH_QUEUE_URL=http://127.0.0.1:$moto_port/123456789012/linkedin-connector-publish \
  PUBLISH_QUEUE_ARN=arn:aws:sqs:us-east-1:123456789012:linkedin-connector-publish \
  PUBLISH_DLQ_ARN=arn:aws:sqs:us-east-1:123456789012:linkedin-connector-publish-dlq \
  SCHEDULE_GROUP=linkedin-connector SCHEDULER_ROLE_ARN=arn:aws:iam::123456789012:role/linkedin-connector-scheduler \
  REFRESHER_ARN=arn:aws:lambda:us-east-1:123456789012:function:linkedin-connector-refresher \
  HEALTH_QUEUE_URL=http://127.0.0.1:$moto_port/123456789012/linkedin-connector-publish-health \
  WEBHOOK_QUEUE_URL=http://127.0.0.1:$moto_port/123456789012/linkedin-connector-publish-webhooks \
  WEBHOOK_SIGNING_SECRET_ARN=linkedin-connector/webhook-signing-secret \
  AWS_LAMBDA_LOG_FORMAT=JSON
# Every function logs at TRACE here (Lambda's log-level setting): no secret may reach its
# output even then (checked below).
export AWS_LAMBDA_LOG_LEVEL=TRACE
# The template's publisher timeout: functions read their deadline from it.
cargo lambda watch --timeout 60 --invoke-address 127.0.0.1 --invoke-port "$invoke_port" >"$logs/watch.log" 2>&1 &
wait_for_port "$invoke_port" "cargo lambda watch"

failed=0
while read -r function event expected; do
  out=$(cargo lambda invoke "$function" -A 127.0.0.1 -P "$invoke_port" --data-file "events/$event" 2>&1) || true
  # HTTP functions answer a statusCode; SQS consumers the messages to redeliver; the refresher
  # its outcome; the reconciler what it found.
  status=$(printf '%s' "$out" | python3 -c 'import sys,json; r=json.load(sys.stdin); print(r["statusCode"] if "statusCode" in r else ("outcome=" + r["outcome"]) if "outcome" in r else ("found=%d" % r["found"]) if "found" in r else "failures=%d" % len(r["batchItemFailures"]))' 2>/dev/null || echo "no response")
  if [ "$status" = "$expected" ]; then
    echo "invoke-samples: $function $event -> $status ok"
  else
    echo "invoke-samples: $function $event -> $status, expected $expected: $out" >&2
    failed=$((failed + 1))
  fi
done <<'SAMPLES'
oauth oauth-authorize.json 200
oauth oauth-callback.json 400
api api-list-connections.json 200
api api-get-connection.json 404
api api-schedule-post.json 400
api api-move-post.json 404
publisher publisher-sqs.json failures=0
publisher publisher-scheduled-sqs.json failures=0
publisher publisher-video-sqs.json failures=0
refresher refresher-window.json outcome=disconnected
refresher refresher-runway.json outcome=disconnected
health health-sqs.json failures=0
health health-round-sqs.json failures=0
health health-metrics-round-sqs.json failures=0
reconciler reconciler-round.json found=0
events events-stream.json failures=0
notifier notifier-sqs.json failures=0
SAMPLES

# An event carrying a bearer token and one carrying an OAuth code, at TRACE: neither may
# appear in what the functions print (lambda_runtime and lambda_http log whole events below
# info, so the product caps them).
bearer="sekrit-bearer-$RANDOM$RANDOM$RANDOM"
code="sekrit-code-$RANDOM$RANDOM$RANDOM"
python3 - "$logs" "$bearer" "$code" <<'PY'
import json, sys
logs, bearer, code = sys.argv[1:]
api = json.load(open("events/api-list-connections.json"))
api["headers"]["authorization"] = "Bearer " + bearer
json.dump(api, open(logs + "/api-secret.json", "w"))
cb = json.load(open("events/oauth-callback.json"))
cb["rawQueryString"] = "code=%s&state=sample-state-never-issued" % code
cb["queryStringParameters"]["code"] = code
json.dump(cb, open(logs + "/oauth-secret.json", "w"))
PY
cargo lambda invoke api -A 127.0.0.1 -P "$invoke_port" --data-file "$logs/api-secret.json" >/dev/null 2>&1 || true
cargo lambda invoke oauth -A 127.0.0.1 -P "$invoke_port" --data-file "$logs/oauth-secret.json" >/dev/null 2>&1 || true
sleep 1
checks=19
if grep -q "$bearer" "$logs/watch.log" || grep -q "$code" "$logs/watch.log"; then
  echo "invoke-samples: a bearer token or an OAuth code reached the functions' TRACE output" >&2
  failed=$((failed + 1))
else
  echo "invoke-samples: no bearer token or OAuth code in the functions' TRACE output ok"
fi
# The capture is real: at cold start every function reports the LinkedIn-Version in force.
if grep -q '"type":"linkedin_version"' "$logs/watch.log"; then
  echo "invoke-samples: cold start reports the LinkedIn-Version and its retirement ok"
else
  echo "invoke-samples: no function reported the LinkedIn-Version at cold start" >&2
  failed=$((failed + 1))
fi
passed=$((checks - failed))
echo "invoke-samples: $passed passed, $failed failed"
[ "$failed" = 0 ] || { cat "$logs/watch.log" >&2; exit 1; }
