//! The inbox's form posts: [`crate::server::form`]'s strict reading, within the configured
//! body size, as an extractor whose refusals are 400 pages.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};

use super::InboxState;
use super::page::PageError;
use crate::server::body::read_bytes;
use crate::server::form::Form;

/// The pairs of a form post, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormBody(pub Form);

impl FromRequest<InboxState> for FormBody {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &InboxState) -> Result<FormBody, PageError> {
        let urlencoded = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !urlencoded {
            return Err(PageError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a form post must be sent as application/x-www-form-urlencoded",
            ));
        }
        let bytes = read_bytes(req, state.app.limits.body_bytes)
            .await
            .map_err(|e| PageError::new(e.status, e.message))?;
        Form::parse(&bytes)
            .map(FormBody)
            .map_err(PageError::bad_request)
    }
}

impl std::ops::Deref for FormBody {
    type Target = Form;
    fn deref(&self) -> &Form {
        &self.0
    }
}

impl FormBody {
    /// [`Form::allow`], refused as a 400 page.
    pub fn allow(
        &self,
        known: impl Fn(&str) -> bool,
        repeats: impl Fn(&str) -> bool,
    ) -> Result<(), PageError> {
        self.0.allow(known, repeats).map_err(PageError::bad_request)
    }
}
