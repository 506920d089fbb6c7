#!/usr/bin/env bash
# kubernetes.sh [args|readiness] — validate packaging/kubernetes/daemonset.yaml offline; or print
# the container's args / readiness command, one word per line (for tests/image/test.sh).
#
# Validation uses PyPI's kubernetes-validate (it ships the Kubernetes JSON schemas, so it runs
# without network) in a venv cached at target/venv-k8s, with --strict (unknown keys are errors).
# A deliberately misspelt copy must fail, so a validator that accepts everything cannot pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
V=target/venv-k8s
M=packaging/kubernetes/daemonset.yaml
if [ ! -x "$V/bin/kubernetes-validate" ]; then
  rm -rf "$V"; /usr/bin/python3 -m venv "$V"
  "$V/bin/pip" install -q 'kubernetes-validate==1.37.0'
fi
field() {
  "$V/bin/python3" - "$M" "$1" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]
words = c["args"] if sys.argv[2] == "args" else c["readinessProbe"]["exec"]["command"][1:]
print("\n".join(words))
PY
}
case "${1:-validate}" in
args|readiness) field "$1"; exit 0 ;;
esac
"$V/bin/kubernetes-validate" --strict --quiet "$M"
bad=$(mktemp --suffix=.yaml); trap 'rm -f "$bad"' EXIT
sed 's/mountPropagation:/mountPropogation:/' "$M" > "$bad"
if "$V/bin/kubernetes-validate" --strict --quiet "$bad" >/dev/null 2>&1; then
  echo "kubernetes: the validator accepted a misspelt key" >&2; exit 1
fi
echo "kubernetes: $M is valid against the Kubernetes schema (strict, offline)"
