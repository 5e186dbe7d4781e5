//! The request id, available anywhere inside the request's future.
//!
//! Accepted from `X-Request-ID` when it is a sane token, generated otherwise, and returned on
//! every response. A task-local lets `ApiError` put it in `instance` without threading it
//! through every function.

use uuid::Uuid;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "x-request-id";

/// The current request's id, if called inside a request.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

pub(crate) async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Keeps a client's id only if it is short and printable, so logs cannot be forged or flooded.
pub fn accept_or_generate(incoming: Option<&str>) -> String {
    match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => Uuid::new_v4().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::accept_or_generate;

    #[test]
    fn a_clean_incoming_id_is_kept_and_a_dirty_one_replaced() {
        assert_eq!(accept_or_generate(Some("abc-123")), "abc-123");
        assert_ne!(accept_or_generate(Some("bad id\n")), "bad id\n");
        assert_eq!(accept_or_generate(None).len(), 36);
    }
}
