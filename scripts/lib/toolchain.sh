# Sourced by scripts/lib/stack.sh. rust-toolchain.toml pins the toolchain by name; rustup cannot
# download one on the project's machines. Where the pinned name is not installed but the
# `stable` toolchain is that very version, use it rather than fail.

if [[ -z "${RUSTUP_TOOLCHAIN:-}" ]] && command -v rustup >/dev/null 2>&1; then
  pinned="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$REPO_ROOT/rust-toolchain.toml")"
  if [[ -n "$pinned" ]] && ! rustup toolchain list | grep -q "^${pinned}-"; then
    if RUSTUP_TOOLCHAIN=stable rustc --version 2>/dev/null | grep -qE "^rustc ${pinned//./\\.}[. ]"; then
      export RUSTUP_TOOLCHAIN=stable
    else
      die "rust-toolchain.toml pins Rust ${pinned}, which is not installed (rustup toolchain list)"
    fi
  fi
  unset pinned
fi
