//! Every route of the server, in one table. A route's handler states who may
//! call it by the extractor it takes ([`crate::auth`]); the routes that take
//! none are public on purpose and listed in [`PUBLIC`] with the reason. A
//! test walks [`routes`] and checks that every route not on that list
//! refuses a request without credentials.

use crate::routes::hooks::{sms, sns, twilio};
use crate::routes::ingest::{alertmanager, generic, heartbeat, pagerduty, vtm};
use crate::routes::{
    alertmanager_api, alerts, changes, links, maintenance, ops, schedules, silences, test_pages, ui,
};
use crate::{AppState, Shared};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;
use firebell_engine::metrics::{HttpLabel, HttpRequests};
use firebell_store::Store;
use std::sync::Arc;

/// A route without an auth extractor, and why that is right.
#[derive(Clone, Copy, Debug)]
pub struct PublicRoute {
    pub method: &'static str,
    pub path: &'static str,
    /// What a request without any credential gets: 200 for the truly open
    /// ones, else the refusal of the credential the route checks itself.
    pub unauthenticated: u16,
    pub why: &'static str,
}

/// The routes that take no auth extractor. Keep this short.
pub const PUBLIC: &[PublicRoute] = &[
    // Operations: load balancers and Prometheus call these without secrets,
    // and they reveal nothing about alerts or people.
    PublicRoute {
        method: "GET",
        path: "/-/healthy",
        unauthenticated: 200,
        why: "liveness probe",
    },
    PublicRoute {
        method: "GET",
        path: "/-/ready",
        unauthenticated: 200,
        why: "readiness probe (the store answers)",
    },
    PublicRoute {
        method: "GET",
        path: "/metrics",
        unauthenticated: 200,
        why: "Prometheus scrape: counters only, no alert text, no addresses",
    },
    PublicRoute {
        method: "GET",
        path: "/api/v1/openapi.json",
        unauthenticated: 200,
        why: "the API's OpenAPI document: the shape of requests and answers, no data",
    },
    // Credentials outside the Authorization header, checked by the handler.
    PublicRoute {
        method: "POST",
        path: "/v2/enqueue",
        unauthenticated: 400,
        why: "PagerDuty Events API: the routing_key is in the body; PagerDuty answers 400 without one",
    },
    PublicRoute {
        method: "POST",
        path: "/v2/change/enqueue",
        unauthenticated: 400,
        why: "PagerDuty change events: the routing_key is in the body",
    },
    PublicRoute {
        method: "GET",
        path: "/api/v1/heartbeat/{key}",
        unauthenticated: 404,
        why: "heartbeat ping with the key in the path (cron one-liners); an unknown key is 404",
    },
    PublicRoute {
        method: "POST",
        path: "/api/v1/heartbeat/{key}",
        unauthenticated: 404,
        why: "heartbeat ping with the key in the path",
    },
    PublicRoute {
        method: "POST",
        path: "/hooks/sns/{key}",
        unauthenticated: 404,
        why: "AWS SNS: key in the path, and every message's AWS signature checked",
    },
    PublicRoute {
        method: "POST",
        path: "/hooks/twilio/{channel}/sms",
        unauthenticated: 403,
        why: "Twilio: every request's X-Twilio-Signature checked (403 without)",
    },
    PublicRoute {
        method: "POST",
        path: "/hooks/twilio/{channel}/{action}/{nid}",
        unauthenticated: 403,
        why: "Twilio call callbacks: X-Twilio-Signature checked (403 without)",
    },
    // An unknown channel is 404; a known one checks the gateway's signature
    // or the channel's token (403 without).
    PublicRoute {
        method: "GET",
        path: "/hooks/sms/{channel}",
        unauthenticated: 404,
        why: "an SMS gateway forwarding a reply (TextAnywhere uses GET): signature or ?token= checked",
    },
    PublicRoute {
        method: "POST",
        path: "/hooks/sms/{channel}",
        unauthenticated: 404,
        why: "an SMS gateway forwarding a reply: Vonage's sig, Plivo's V3 signature or ?token= checked",
    },
    // A link without its token is 400 "Link incomplete" (mail programs cut
    // long links: the page says so); a wrong or foreign token is 403.
    PublicRoute {
        method: "GET",
        path: "/links/alerts/{id}/{action}",
        unauthenticated: 400,
        why: "one-click links in emails: the token in the query is signed and expires",
    },
    PublicRoute {
        method: "POST",
        path: "/links/alerts/{id}/{action}",
        unauthenticated: 400,
        why: "the confirmation form of a one-click link: the same signed token",
    },
    PublicRoute {
        method: "GET",
        path: "/feeds/schedules/{name}",
        unauthenticated: 404,
        why: "iCalendar feed for calendar apps: the path carries a signed token",
    },
    // The web UI's way in: the sign-in form and what it needs to look right.
    PublicRoute {
        method: "GET",
        path: "/login",
        unauthenticated: 200,
        why: "the web UI's sign-in form",
    },
    PublicRoute {
        method: "POST",
        path: "/login",
        unauthenticated: 401,
        why: "the sign-in form posts the password here (rate-limited per address and user)",
    },
    PublicRoute {
        method: "GET",
        path: "/ui/static/{file}",
        unauthenticated: 200,
        why: "the web UI's stylesheet and script, the same for everyone",
    },
    PublicRoute {
        method: "GET",
        path: "/feeds/users/{name}",
        unauthenticated: 404,
        why: "iCalendar feed of one person's shifts: the path carries a signed token",
    },
];

/// One method and path of the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    /// A web UI page: signed out, a GET is sent to `/login` (303) and any
    /// other method is refused with 401.
    pub ui: bool,
}

/// Builds the router and the list of its routes together, so neither can
/// name a route the other lacks.
struct Table<S> {
    router: Router<Shared<S>>,
    routes: Vec<Route>,
}

impl<S: Store> Table<S> {
    fn add(mut self, method: Method, path: &'static str, mr: MethodRouter<Shared<S>>) -> Self {
        // Routes of one path with different methods merge into one.
        self.router = self.router.route(path, mr);
        self.routes.push(Route {
            method,
            path,
            ui: false,
        });
        self
    }

    /// A web UI route: with the UI's headers (content security policy,
    /// no caching, `Server-Timing`).
    fn ui<H: Handler<T, Shared<S>>, T: 'static>(
        mut self,
        method: Method,
        path: &'static str,
        h: H,
    ) -> Self {
        let mr = if method == Method::GET {
            axum::routing::get(h)
        } else {
            axum::routing::post(h)
        };
        self.router = self
            .router
            .route(path, mr.layer(axum::middleware::from_fn(ui::headers)));
        self.routes.push(Route {
            method,
            path,
            ui: true,
        });
        self
    }

    fn get<H: Handler<T, Shared<S>>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::GET, path, axum::routing::get(h))
    }

    fn post<H: Handler<T, Shared<S>>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::POST, path, axum::routing::post(h))
    }

    fn delete<H: Handler<T, Shared<S>>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::DELETE, path, axum::routing::delete(h))
    }
}

fn table<S: Store>() -> Table<S> {
    Table {
        router: Router::new(),
        routes: Vec::new(),
    }
    // Ingest, one format each (routes/ingest/).
    .post("/api/v1/events", generic::post_events::<S>)
    .post("/v2/enqueue", pagerduty::enqueue::<S>)
    .post("/v2/change/enqueue", changes::enqueue::<S>)
    .post("/api/v1/vtm", vtm::post_event::<S>)
    .post("/api/v1/heartbeat", heartbeat::ping_bearer::<S>)
    .get("/api/v1/heartbeat/{key}", heartbeat::ping_path_get::<S>)
    .post("/api/v1/heartbeat/{key}", heartbeat::ping_path::<S>)
    .post("/api/v2/alerts", alertmanager::post_v2::<S>)
    .post("/hooks/alertmanager", alertmanager::webhook::<S>)
    // Alertmanager's read API and silences, for amtool.
    .get("/api/v2/alerts", alertmanager_api::alerts::<S>)
    .get("/api/v2/alerts/groups", alertmanager_api::groups::<S>)
    .get("/api/v2/status", alertmanager_api::status::<S>)
    .get("/api/v2/receivers", alertmanager_api::receivers::<S>)
    .get("/api/v2/silences", silences::am_list::<S>)
    .post("/api/v2/silences", silences::am_post::<S>)
    .get("/api/v2/silence/{id}", silences::am_get::<S>)
    .delete("/api/v2/silence/{id}", silences::am_delete::<S>)
    // Provider callbacks (routes/hooks/).
    .post("/hooks/sns/{key}", sns::receive::<S>)
    .post("/hooks/twilio/{channel}/sms", twilio::sms_hook::<S>)
    .get("/hooks/sms/{channel}", sms::receive::<S>)
    .post("/hooks/sms/{channel}", sms::receive::<S>)
    .post(
        "/hooks/twilio/{channel}/{action}/{nid}",
        twilio::call_hook::<S>,
    )
    // Firebell's API, and its OpenAPI document.
    .get("/api/v1/openapi.json", crate::openapi::openapi_json)
    .get("/api/v1/alerts", alerts::list::<S>)
    .get("/api/v1/alerts/{id}", alerts::get_one::<S>)
    .post("/api/v1/alerts/{id}/{action}", alerts::answer::<S>)
    .post(
        "/api/v1/alerts/{id}/actions/{action}",
        alerts::run_action::<S>,
    )
    .get("/api/v1/changes", changes::list::<S>)
    .get("/api/v1/silences", silences::list::<S>)
    .post("/api/v1/silences", silences::create::<S>)
    .get("/api/v1/silences/{id}", silences::get_one::<S>)
    .delete("/api/v1/silences/{id}", silences::expire::<S>)
    .get("/api/v1/maintenance", maintenance::list::<S>)
    .post("/api/v1/maintenance", maintenance::create::<S>)
    .delete("/api/v1/maintenance/{id}", maintenance::end::<S>)
    .get("/api/v1/oncall", schedules::oncall_all::<S>)
    .get("/api/v1/schedules", schedules::list::<S>)
    .get("/api/v1/schedules/{id}/oncall", schedules::oncall_one::<S>)
    .get("/api/v1/schedules/{id}/shifts", schedules::shifts::<S>)
    .get(
        "/api/v1/schedules/{id}/overrides",
        schedules::list_overrides::<S>,
    )
    .post(
        "/api/v1/schedules/{id}/overrides",
        schedules::add_override::<S>,
    )
    .delete("/api/v1/overrides/{id}", schedules::delete_override::<S>)
    .post("/api/v1/channels/{name}/test", test_pages::channel::<S>)
    .post("/api/v1/users/{id}/test", test_pages::user::<S>)
    .get("/feeds/schedules/{name}", schedules::schedule_feed::<S>)
    .get("/feeds/users/{name}", schedules::user_feed::<S>)
    .get("/links/alerts/{id}/{action}", links::confirm::<S>)
    .post("/links/alerts/{id}/{action}", links::act::<S>)
    // Operations.
    .get("/api/v1/nodes", ops::nodes::<S>)
    .post("/-/reload", ops::reload::<S>)
    .get("/-/healthy", ops::healthy)
    .get("/-/ready", ops::ready::<S>)
    .get("/metrics", ops::metrics::<S>)
    // The web UI (routes/ui/).
    .ui(Method::GET, "/login", ui::login::login_page)
    .ui(Method::POST, "/login", ui::login::login::<S>)
    .ui(Method::GET, "/ui/static/{file}", ui::asset)
    .ui(Method::GET, "/", ui::home)
    .ui(Method::POST, "/logout", ui::login::logout::<S>)
    .ui(Method::GET, "/profile", ui::login::profile)
    .ui(
        Method::POST,
        "/profile/password",
        ui::login::change_password::<S>,
    )
    .ui(Method::GET, "/alerts", ui::alerts::list::<S>)
    .ui(Method::POST, "/alerts/answer", ui::alerts::answer_many::<S>)
    .ui(Method::GET, "/alerts/{id}", ui::alerts::show::<S>)
    .ui(
        Method::POST,
        "/alerts/{id}/{action}",
        ui::alerts::answer_one::<S>,
    )
    .ui(
        Method::POST,
        "/alerts/{id}/actions/{action}",
        ui::alerts::run_one::<S>,
    )
    .ui(Method::GET, "/oncall", ui::oncall::overview::<S>)
    .ui(Method::GET, "/schedules/{id}", ui::oncall::show::<S>)
    .ui(
        Method::POST,
        "/schedules/{id}/overrides",
        ui::oncall::add_override::<S>,
    )
    .ui(
        Method::POST,
        "/overrides/{id}/delete",
        ui::oncall::delete_override::<S>,
    )
    .ui(Method::GET, "/policies", ui::services::policies::<S>)
    .ui(Method::GET, "/services", ui::services::services::<S>)
    .ui(Method::GET, "/services/{id}", ui::services::service::<S>)
    .ui(
        Method::POST,
        "/services/{id}/maintenance",
        ui::services::start_maintenance::<S>,
    )
    .ui(
        Method::POST,
        "/maintenance/{id}/end",
        ui::services::end_maintenance::<S>,
    )
    .ui(Method::GET, "/silences", ui::silences::list::<S>)
    .ui(Method::POST, "/silences", ui::silences::create::<S>)
    .ui(
        Method::POST,
        "/silences/{id}/expire",
        ui::silences::expire::<S>,
    )
    .ui(Method::GET, "/people", ui::people::list::<S>)
    .ui(Method::GET, "/people/{id}", ui::people::show::<S>)
    .ui(Method::POST, "/people/{id}/test", ui::people::test::<S>)
    .ui(Method::GET, "/status", ui::people::status::<S>)
    .ui(Method::POST, "/status/reload", ui::people::reload::<S>)
}

/// Builds the router. The body limit is read once, here.
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    let limit = state.engine.config().server.max_body_bytes;
    let requests = state.engine.metrics().http_requests.clone();
    table::<S>()
        .router
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::from_fn(move |req, next| {
            time_request(req, next, requests.clone())
        }))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(move |req, next| {
            read_body_in_time(req, next, limit)
        }))
        .layer(axum::middleware::from_fn(refuse_oversized_heads))
        .with_state(state)
}

/// Observes each request's duration under its route's pattern (`{id}`,
/// not the id: a series per route, not per alert), its method and status.
/// A request no route matched counts under `route="unmatched"`.
async fn time_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    requests: HttpRequests,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    // Methods are any token a client sends: only the standard ones name a
    // series, or a client could make one per made-up method.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let response = next.run(req).await;
    requests
        .get_or_create(&HttpLabel {
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The longest request target answered (longer: 414).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header fields, and their total size, answered (more: 431).
pub const MAX_HEADER_FIELDS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// A request whose target or headers are larger than any client of ours
/// sends is refused before routing, with a JSON error like every other
/// (the HTTP parser's own hard limits, well above these, answer with an
/// empty body: see `crate::MAX_HEADERS`).
async fn refuse_oversized_heads(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return crate::error::ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    let fields = req.headers().len();
    let bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if fields > MAX_HEADER_FIELDS || bytes > MAX_HEADER_BYTES {
        return crate::error::ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request has more than {MAX_HEADER_FIELDS} header fields or {MAX_HEADER_BYTES} bytes of them"
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Reads a request's whole body before the handler runs, within
/// [`crate::BODY_READ_TIMEOUT`] and `limit` bytes: a client that sends its
/// body a byte a second is answered 408 and its connection freed, instead
/// of holding a handler (and a connection slot) for as long as it likes.
async fn read_body_in_time(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    limit: usize,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let read =
        tokio::time::timeout(crate::BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return crate::error::ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than the limit (server.max_body_bytes), or was cut off",
            )
            .into_response();
        }
        Err(_) => {
            tracing::warn!(path = ?parts.uri.path(), "request body not received in time");
            let mut resp = crate::error::ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    crate::BODY_READ_TIMEOUT.as_secs()
                ),
            )
            .into_response();
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            return resp;
        }
    };
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// Every method and path the router answers (HEAD answers with GET).
pub fn routes<S: Store>() -> Vec<Route> {
    table::<S>().routes
}
