#!/usr/bin/env bash
# Builds the Lambda deployment package without cargo-lambda: the release
# `bootstrap` for x86_64 (provided.al2023), checked to need no glibc symbol
# newer than GLIBC_2.34 (the glibc of Amazon Linux 2023), zipped where
# `cargo lambda build --release --output-format zip` would put it:
# target/lambda/bagpipe/bootstrap.zip.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p bagpipe-lambda --bin bootstrap
bin=target/release/bootstrap

# The newest glibc symbol version the binary asks for.
newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
echo "bootstrap needs glibc $newest at most"
if [ "$(printf '%s\n%s\n' "$newest" 2.34 | sort -V | tail -1)" != "2.34" ]; then
    echo "error: bootstrap needs GLIBC_$newest, newer than provided.al2023's 2.34" >&2
    exit 1
fi

mkdir -p target/lambda/bagpipe
# Without symbols and debug info the zip is a fifth of the size.
strip -o target/lambda/bagpipe/bootstrap "$bin"
python3 - target/lambda/bagpipe/bootstrap target/lambda/bagpipe/bootstrap.zip <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16  # executable, as Lambda requires
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(src, "rb") as f:
        z.writestr(info, f.read())
PY
ls -l target/lambda/bagpipe/bootstrap.zip
