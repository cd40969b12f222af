#!/usr/bin/env bash
# Checks infra/template.yaml offline and without AWS credentials:
#
#   1. cfn-lint infra/template.yaml                    (CloudFormation + SAM schema, zero findings)
#   2. sam validate --lint                             (the SAM transform, e.g. unknown event properties)
#   3. checkov --framework cloudformation              (security misconfiguration, zero failed checks)
#   4. every checkov skip in the template has a reason (Metadata: checkov: skip: - id, comment)
#
# Run from anywhere (CI: `bash infra/check.sh` from the repository root).
# Exits non-zero if any step fails, and names the failed steps.
#
# The tools live in their own virtualenv (checkov pins boto3==1.35.49, which
# must not replace the boto3 of the Python the tests use): by default
# ~/.cache/bagpipe/infra-venv (override with BAGPIPE_INFRA_VENV), created from
# infra/requirements.txt on the first run and again whenever that file changes
# (about 2 minutes from PyPI on 2 cores; later runs take seconds).
set -uo pipefail
cd "$(dirname "$0")/.."

template=infra/template.yaml
requirements=infra/requirements.txt
venv=${BAGPIPE_INFRA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bagpipe/infra-venv}
stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$venv/bin/checkov" ]; then
    echo "== installing cfn-lint, aws-sam-cli, checkov into $venv ($(date +%T))"
    started=$SECONDS
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" ||
        ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"; then
        echo "FAILED: installing the tools from $requirements" >&2
        exit 1
    fi
    echo "$want" >"$stamp"
    echo "   installed in $((SECONDS - started)) s"
fi

# No credentials, no profile, no instance metadata: the checks must not need
# any. A region only because the tools insist on one. No telemetry.
run() {
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
        -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_ENDPOINT_URL \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        AWS_EC2_METADATA_DISABLED=true \
        AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
        SAM_CLI_TELEMETRY=0 \
        PATH="$venv/bin:$PATH" "$@"
}

failed=()
step() {
    local name=$1
    shift
    echo "== $name"
    if run "$@"; then
        echo "   ok: $name"
    else
        echo "   FAILED: $name (exit $?)"
        failed+=("$name")
    fi
}

echo "== tools: $(run cfn-lint --version), $(run sam --version), checkov $(run checkov --version)"

step "cfn-lint" cfn-lint -- "$template"

step "sam validate --lint" sam validate --lint --template "$template" --region us-east-1

# --skip-download: no calls to the Prisma Cloud API (guidelines, severities).
step "checkov" checkov -f "$template" --framework cloudformation \
    --compact --quiet --skip-download

step "checkov skips have reasons" python - "$template" <<'PY'
import sys
from cfnlint.decode import decode

template, errors = decode(sys.argv[1])
if errors:
    sys.exit(f"cannot read {sys.argv[1]}: {errors}")
bad = []
for name, resource in template.get("Resources", {}).items():
    skips = (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    for skip in skips:
        if not str(skip.get("comment", "")).strip():
            bad.append(f"{name}: {skip.get('id')}")
        else:
            print(f"   skipped {skip.get('id')} on {name}")
if bad:
    sys.exit("checkov skips without a comment: " + ", ".join(bad))
PY

if [ ${#failed[@]} -gt 0 ]; then
    echo "infra checks FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "infra checks passed: cfn-lint, sam validate --lint, checkov"
