//! Placeholder: the binding crate is built by its own issue.
