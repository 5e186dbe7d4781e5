//! Pricing and ticket types (filled in by its work item).
