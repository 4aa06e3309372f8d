#!/usr/bin/env bash
# The Debian packages the test suite uses beyond Python: installed when missing and we
# may (root with apt-get); otherwise say what to install. Tests that need a missing tool
# fail in CI (CI=true) and skip elsewhere.
set -euo pipefail

declare -A need=(
  [pdftoppm]=poppler-utils
  [chromium]=chromium
  # The Celery executor's test starts its own Redis broker.
  [redis-server]=redis-server
)

missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# The Postgres tests start their own PostgreSQL 15 server from its binaries.
[ -x /usr/lib/postgresql/15/bin/postgres ] || command -v pg_ctl >/dev/null 2>&1 ||
  missing+=(postgresql-15)
# Certificate PDFs embed the DejaVu fonts; the pipeline itself needs them too.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: install ${missing[*]} (Debian: sudo apt-get install ${missing[*]}) for the full suite" >&2
fi
