//! Authorization before validation (issue 19): the sending routes are for service and admin
//! tokens; a user token posting a body of the wrong shape gets 403, not a 422 that
//! describes what the route accepts.

use hub_tests::assert_role_checked_before_body;
use serde_json::json;
use shared::auth::Role;

use crate::Setup;

#[tokio::test]
async fn user_tokens_are_refused_before_the_body_is_read_on_every_sending_route() {
    let s = Setup::new().await;
    let user = s.hub.token("u-auth-order", Role::User);
    let service = s.service_token();
    let cases = [
        (
            "/api/v1/notifications",
            json!({"user_id": "u1", "title": "t", "message": "m"}),
            "type",
        ),
        (
            "/api/v1/notifications/appointment-reminder",
            json!({"user_id": "u1", "appointment_id": 7, "date": "2025-01-20"}),
            "time",
        ),
        (
            "/api/v1/notifications/appointment-updated",
            json!({"user_id": "u1", "appointment": {"id": 7, "status": "confirmed"}}),
            "appointment.date",
        ),
    ];
    for (path, body, field) in cases {
        for allowed in [&service, &s.hub.admin()] {
            assert_role_checked_before_body(
                &s.svc,
                path,
                &user,
                allowed,
                &body,
                (422, "invalid_body", field),
            )
            .await;
        }
    }
    // A body of the right shape with a bad value: the route's own 400, after the role.
    assert_role_checked_before_body(
        &s.svc,
        "/api/v1/notifications",
        &user,
        &service,
        &json!({"user_id": "a#b", "type": "t", "title": "t", "message": "m"}),
        (400, "invalid_field", "user_id"),
    )
    .await;
}
