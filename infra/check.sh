#!/usr/bin/env bash
# Checks infra/template.yaml and infra/statemachine.asl.json offline and
# without AWS credentials:
#
#   1. cfn-lint infra/template.yaml                    (CloudFormation + SAM schema, zero findings)
#   2. sam validate --lint                             (the SAM transform, e.g. unknown event properties)
#   3. checkov --framework cloudformation              (security misconfiguration, zero failed checks)
#   4. every checkov skip in the template has a reason (Metadata: checkov: skip: - id, comment)
#   5. the state machine's DefinitionSubstitutions supply every ${Name} of its
#      definition file, and the file uses every one of them
#   6. asl-validator on that definition, each ${Name} replaced by a plausible
#      value (the parameter's default, a placeholder ARN): cfn-lint and sam
#      validate do not look into a SAM state machine's DefinitionUri file
#
# Run from anywhere (CI: `bash infra/check.sh` from the repository root).
# Exits non-zero if any step fails, and names the failed steps.
#
# The tools live in their own virtualenv (checkov pins boto3==1.35.49, which
# must not replace the boto3 of the Python the tests use): by default
# ~/.cache/bagpipe/infra-venv (override with BAGPIPE_INFRA_VENV), created from
# infra/requirements.txt on the first run and again whenever that file changes
# (about 2 minutes from PyPI on 2 cores; later runs take seconds).
#
# asl-validator (npm; needs node >= 18 and npm) is installed the same way, by
# `npm ci` from infra/asl-validator/ (the version pinned in package.json, its
# dependencies in package-lock.json), into ~/.cache/bagpipe/asl-validator
# (override with BAGPIPE_ASL_VALIDATOR_DIR), again whenever the lock file
# changes (seconds).
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

asl_lock=infra/asl-validator/package-lock.json
asl_dir=${BAGPIPE_ASL_VALIDATOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bagpipe/asl-validator}
asl_stamp=$asl_dir/.package-lock.sha256
asl_want=$(sha256sum "$asl_lock" | cut -d' ' -f1)
asl_validator=$asl_dir/node_modules/.bin/asl-validator

if [ "$(cat "$asl_stamp" 2>/dev/null)" != "$asl_want" ] || [ ! -x "$asl_validator" ]; then
    echo "== installing asl-validator into $asl_dir ($(date +%T))"
    started=$SECONDS
    rm -rf "$asl_dir"
    mkdir -p "$asl_dir"
    cp infra/asl-validator/package.json "$asl_lock" "$asl_dir/"
    if ! command -v npm >/dev/null ||
        ! (cd "$asl_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error); then
        echo "FAILED: installing asl-validator from $asl_lock (needs node >= 18 and npm)" >&2
        exit 1
    fi
    echo "$asl_want" >"$asl_stamp"
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

echo "== tools: $(run cfn-lint --version), $(run sam --version), checkov $(run checkov --version)," \
    "asl-validator $("$asl_validator" --version) (node $(node --version))"

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

# The template's state machines (AWS::Serverless::StateMachine with a local
# DefinitionUri). `check`: each file's ${Name} placeholders against the keys
# of DefinitionSubstitutions, both ways. `validate`: each definition with
# plausible values substituted as text (as CloudFormation does before it
# parses the file, so a number may be an unquoted ${Name}), then asl-validator.
IFS= read -r -d '' asl_py <<'PY' || true
import json, os, re, subprocess, sys, tempfile
from cfnlint.decode import decode

mode, template_path = sys.argv[1], sys.argv[2]
template, errors = decode(template_path)
if errors:
    sys.exit(f"cannot read {template_path}: {errors}")
resources = template.get("Resources", {})
parameters = template.get("Parameters", {})
placeholder = re.compile(r"\$\{([^}]*)\}")
account, region = "123456789012", "us-east-1"


def plausible(name, value):
    """A value of the kind CloudFormation would substitute (validation only)."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict) and list(value) == ["Ref"]:
        ref = value["Ref"]
        if "Default" in parameters.get(ref, {}):
            return str(parameters[ref]["Default"])
        return f"placeholder-{ref.lower()}"
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
        logical, attribute = target if isinstance(target, list) else target.split(".", 1)
        kind = resources.get(logical, {}).get("Type", "")
        if attribute == "Arn" and kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{region}:{account}:function:{logical}"
        if attribute == "Arn":
            service = kind.split("::")[1].lower() if kind.count("::") == 2 else "placeholder"
            return f"arn:aws:{service}:{region}:{account}:{logical}"
        return f"placeholder-{logical.lower()}-{attribute.lower()}"
    sys.exit(f"DefinitionSubstitutions {name}: no plausible value for {value!r} (extend infra/check.sh)")


machines = [
    (logical, resource["Properties"])
    for logical, resource in resources.items()
    if resource.get("Type") == "AWS::Serverless::StateMachine"
    and isinstance((resource.get("Properties") or {}).get("DefinitionUri"), str)
]
if not machines:
    sys.exit(f"{template_path}: no AWS::Serverless::StateMachine with a local DefinitionUri")
bad = []
with tempfile.TemporaryDirectory(prefix="bagpipe-asl-") as out_dir:
    for logical, props in machines:
        path = os.path.relpath(os.path.join(os.path.dirname(template_path), props["DefinitionUri"]))
        text = open(path).read()
        used = set(placeholder.findall(text))
        given = props.get("DefinitionSubstitutions") or {}
        if mode == "check":
            bad += [f"{path}: ${{{n}}} is not in {logical}.DefinitionSubstitutions" for n in sorted(used - set(given))]
            bad += [f"{logical}.DefinitionSubstitutions: {n} is not used in {path}" for n in sorted(set(given) - used)]
            print(f"   {logical}: {path} uses " + ", ".join("${%s}" % n for n in sorted(used)))
            continue
        for name in sorted(used & set(given)):
            text = text.replace("${" + name + "}", plausible(name, given[name]))
        try:
            json.loads(text)
        except ValueError as e:
            bad.append(f"{path}, substituted: not JSON: {e}")
            continue
        rendered = os.path.join(out_dir, os.path.basename(path))
        with open(rendered, "w") as f:
            f.write(text)
        print(f"   {logical}: {path}")
        if subprocess.run([sys.argv[3], "--json-path", rendered]).returncode != 0:
            bad.append(f"{path}: asl-validator found errors")
if bad:
    sys.exit("\n".join(bad))
PY

step "state machine substitutions" python -c "$asl_py" check "$template"

step "asl-validator" python -c "$asl_py" validate "$template" "$asl_validator"

if [ ${#failed[@]} -gt 0 ]; then
    echo "infra checks FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "infra checks passed: cfn-lint, sam validate --lint, checkov, checkov skips have reasons," \
    "state machine substitutions, asl-validator"
