//! The JSON API under `/api/v1`, `/healthz`, `/readyz` and `/metrics`. Each handler's
//! `#[utoipa::path]` is its documentation: `/api/openapi.json` is generated from them
//! (`utoipa-axum` registers the route and its description together, so neither can be
//! forgotten), and each operation's `security` names the role it needs — the role walk test
//! reads it from the document and holds every handler to it.

pub mod access;
pub mod changes;
pub mod domains;
pub mod infrastructure;
pub mod inventory;
pub mod ops;
pub mod workers;

use crate::state::AppState;
use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "mxwatch",
        description = "The MX auditor's dashboard API. Every route needs `Authorization: Bearer TOKEN` \
                       (`mxwatch token create --role viewer|operator|admin`) or a dashboard session; the \
                       security requirement of each names the least role it needs (viewer < operator < admin)."
    ),
    modifiers(&BearerToken),
    tags((name = "domains"), (name = "changes"), (name = "inventory"), (name = "access"), (name = "operations"))
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token; the scopes are the least role the operation needs",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every API route with its description.
pub fn router() -> OpenApiRouter<AppState> {
    use utoipa::OpenApi as _;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(domains::list))
        .routes(routes!(domains::detail))
        .routes(routes!(domains::history))
        .routes(routes!(domains::diff))
        .routes(routes!(domains::check_now))
        .routes(routes!(infrastructure::list))
        .routes(routes!(changes::list))
        .routes(routes!(changes::approve))
        .routes(routes!(changes::acknowledge))
        .routes(routes!(inventory::list))
        .routes(routes!(inventory::put, inventory::remove))
        .routes(routes!(
            inventory::list_maintenance,
            inventory::add_maintenance
        ))
        .routes(routes!(inventory::remove_maintenance))
        .routes(routes!(access::users, access::add_user))
        .routes(routes!(access::remove_user))
        .routes(routes!(access::tokens, access::add_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(access::audit_log))
        .routes(routes!(workers::list))
}
