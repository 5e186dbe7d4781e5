#!/usr/bin/env python3
"""Writes a DEVELOPMENT platform wallet: DIR/platform-wallet.json (solana-keygen's format, a JSON
array of the 32-byte ed25519 seed then the 32-byte public key) and DIR/platform-wallet.pubkey
(its base58 address). Needs only python3 and openssl; used by scripts/dev and docker-compose.

    make-wallet.py DIR        # does nothing if both files exist
"""
import json
import os
import subprocess
import sys
import tempfile

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(data: bytes) -> str:
    n, out = int.from_bytes(data, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = ALPHABET[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def main(out: str) -> None:
    keypair, pubkey = os.path.join(out, "platform-wallet.json"), os.path.join(out, "platform-wallet.pubkey")
    if os.path.exists(keypair) and os.path.exists(pubkey):
        return
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        der = os.path.join(tmp, "key.der")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-outform", "DER", "-out", der], check=True)
        # The raw keys are the last 32 bytes of the PKCS#8 and SubjectPublicKeyInfo encodings.
        secret = open(der, "rb").read()[-32:]
        public = subprocess.run(
            ["openssl", "pkey", "-inform", "DER", "-in", der, "-pubout", "-outform", "DER"],
            check=True, capture_output=True,
        ).stdout[-32:]
    old = os.umask(0o077)
    try:
        with open(keypair, "w") as f:
            json.dump(list(secret + public), f)
    finally:
        os.umask(old)
    with open(pubkey, "w") as f:
        f.write(base58(public) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
