#!/usr/bin/env bash
# Debian packages some tests use when present: Chromium (the operator console
# and the /status page in a real browser) and promtool (checking the alert
# rules); openssl makes the certificates of the TLS tests. PostgreSQL, a JDK
# (with keytool) and Maven are installed by `npm run services -- up` itself
# when missing.
set -uo pipefail

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
  echo "install-test-tools: not root; tests needing ${missing[*]} will be skipped" >&2
  exit 0
fi
as_root=()
[[ $(id -u) -ne 0 ]] && as_root=(sudo -n)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq &&
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
  echo "install-test-tools: could not install ${missing[*]}; the tests needing them will be skipped" >&2
# The prometheus package starts a server on :9090 through its init script; tests need only promtool.
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  "${as_root[@]}" pkill -x prometheus 2>/dev/null || true
fi
exit 0
