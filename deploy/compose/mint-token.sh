#!/usr/bin/env bash
# Mints an RS256 access token like the auth-service's, for the compose stack (or any stack whose
# JWT_PUBLIC_KEY_PATH matches PRIVATE_KEY). Same claims as mint_token in scripts/lib/stack.sh.
#
#   deploy/compose/mint-token.sh PRIVATE_KEY TENANT_ID [ROLE] [HOURS] [SUBJECT]
#
#   ROLE     admin (default) or user
#   HOURS    lifetime, default 24
#   SUBJECT  user id (`sub`), default 00000000-0000-4000-8000-0000000000a1
#
# JWT_ISSUER / JWT_AUDIENCE override iss/aud (defaults match the service's). Needs openssl.
# Prints the token on stdout.
set -euo pipefail

usage() { sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 2 && $# -le 5 ]] || usage

key="$1" tenant="$2" role="${3:-admin}" hours="${4:-24}" sub="${5:-00000000-0000-4000-8000-0000000000a1}"
uuid_re='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

[[ -r "$key" ]] || { echo "mint-token: cannot read private key $key" >&2; exit 1; }
[[ "$tenant" =~ $uuid_re ]] || { echo "mint-token: TENANT_ID must be a UUID, got $tenant" >&2; exit 1; }
[[ "$hours" =~ ^[1-9][0-9]*$ ]] || { echo "mint-token: HOURS must be a positive integer" >&2; exit 1; }
command -v openssl >/dev/null 2>&1 || { echo "mint-token: openssl is required" >&2; exit 1; }

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# A random v4-style UUID for jti, without relying on /proc or uuidgen (macOS has neither /proc).
jti() {
  local h
  h=$(openssl rand -hex 16)
  printf '%s-%s-4%s-%x%s-%s' "${h:0:8}" "${h:8:4}" "${h:13:3}" $((0x${h:16:1} & 0x3 | 0x8)) "${h:17:3}" "${h:20:12}"
}

now=$(date +%s)
exp=$((now + hours * 3600))
header=$(printf '{"alg":"RS256","typ":"JWT","kid":"current"}' | b64url)
payload=$(printf '{"sub":"%s","tenant_id":"%s","type":"access","role":"%s","permissions":["*"],"iss":"%s","aud":"%s","iat":%d,"exp":%d,"jti":"%s"}' \
  "$sub" "$tenant" "$role" "${JWT_ISSUER:-tickettoken}" "${JWT_AUDIENCE:-${JWT_ISSUER:-tickettoken}}" "$now" "$exp" "$(jti)" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$signature"
