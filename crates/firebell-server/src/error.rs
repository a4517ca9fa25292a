//! One error type for every handler, answered as JSON
//! `{"error": "...", "details": [...]}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_core::event::FieldError;
use firebell_engine::EngineError;
use firebell_ingest::IngestError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub details: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn fields(errors: Vec<FieldError>) -> Self {
        let error = match errors.as_slice() {
            [one] => format!("invalid field {}: {}", one.field, one.message),
            many => format!("{} invalid fields", many.len()),
        };
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            details: errors
                .into_iter()
                .map(|e| json!({ "field": e.field, "message": e.message }))
                .collect(),
        }
    }

    pub fn unauthorized(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let body = crate::openapi::ErrorBody {
            error: self.error,
            details: self.details,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if unauthorized {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Firebell's own answer to a body an ingest adapter refused (formats with
/// answers of their own — PagerDuty's, Alertmanager's — shape theirs from
/// [`IngestError::messages`]).
impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Malformed(m) => ApiError::bad_request(format!("malformed JSON: {m}")),
            IngestError::Invalid(fields) => ApiError::fields(fields),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            EngineError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            EngineError::Store(_) | EngineError::Internal(_) => {
                tracing::error!(error = %e, "request failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage unavailable; try again",
                )
            }
        }
    }
}

impl From<firebell_store::StoreError> for ApiError {
    fn from(e: firebell_store::StoreError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        let status = r.status();
        let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is larger than the limit (server.max_body_bytes)".to_string()
        } else {
            r.body_text()
        };
        ApiError::new(status, error)
    }
}

/// `axum::extract::Query`, refused as Firebell's JSON error (axum's own
/// rejection is plain text): every error the API gives is JSON.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
    }
}
