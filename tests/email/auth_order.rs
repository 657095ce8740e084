//! Authorization before validation (issue 19): `POST /api/integrations/email/send` is for
//! service and admin tokens; a user token posting a body of the wrong shape gets 403, not a
//! 422 that describes what the route accepts.

use hub_tests::{TestHub, assert_role_checked_before_body};
use serde_json::json;
use shared::auth::Role;

use crate::{SEND, service};

#[tokio::test]
async fn a_user_token_is_refused_before_the_body_is_read() {
    let hub = TestHub::new().await;
    let svc = service(&hub);
    let user = hub.token("u-auth-order", Role::User);
    for allowed in [hub.token("svc-auth-order", Role::Service), hub.admin()] {
        // The wrong type: serde's 422 names `to`.
        assert_role_checked_before_body(
            &svc,
            SEND,
            &user,
            &allowed,
            &json!({"to": 12, "subject": "s", "body": "b"}),
            (422, "invalid_body", "to"),
        )
        .await;
        // The right shape, but the recipient missing: the route's own 400 names `to`.
        assert_role_checked_before_body(
            &svc,
            SEND,
            &user,
            &allowed,
            &json!({"subject": "s", "body": "b"}),
            (400, "invalid_field", "to"),
        )
        .await;
    }
}
