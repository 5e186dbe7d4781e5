//! The integration-test binary: one harness (`helpers`), one module per capability.

mod fault;
mod health;
mod helpers;
mod rls;
mod startup;
