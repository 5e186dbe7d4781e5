//! `sqlx::migrate!` embeds `migrations/` at compile time; without this a new migration file
//! would not make cargo rebuild the crate, and the binary would silently lack it. Likewise the
//! SQL macros read `.sqlx/` (offline builds): regenerated query data, say after a migration
//! changed a column's type, must be checked again even when no statement's text changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=.sqlx");
}
