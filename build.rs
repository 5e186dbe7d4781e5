//! `sqlx::migrate!` embeds `migrations/` at compile time; without this a new migration file
//! would not make cargo rebuild the crate, and the binary would silently lack it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
