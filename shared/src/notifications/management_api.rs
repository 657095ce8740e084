//! The API Gateway Management API client behind [`ConnectionGateway`], for builds with the
//! `apigw-management` feature (the notifications worker).
//!
//! The management API is reached at `WEBSOCKET_MANAGEMENT_ENDPOINT`: on AWS
//! `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`, locally the local WebSocket
//! gateway's management port (`tools/ws-gateway`), which answers the same
//! `POST/GET/DELETE /@connections/{id}` calls.

use bytes::Bytes;

use super::push::{BoxFuture, ConnectionGateway, PostError};

/// The real management API client (AWS SDK), pointed at the configured endpoint.
#[derive(Clone, Debug)]
pub struct ManagementApi {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ManagementApi {
    /// `endpoint` is the API's `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`
    /// (or the local gateway's management URL).
    pub fn new(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(conf),
        }
    }
}

fn is_gone<E, R>(e: &aws_sdk_apigatewaymanagement::error::SdkError<E, R>) -> bool
where
    R: std::fmt::Debug,
    aws_sdk_apigatewaymanagement::error::SdkError<E, R>:
        aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata,
{
    use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
    e.code() == Some("GoneException")
}

impl ConnectionGateway for ManagementApi {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), PostError>> {
        Box::pin(async move {
            let res = self
                .client
                .post_to_connection()
                .connection_id(connection_id)
                .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                    payload.to_vec(),
                ))
                .send()
                .await;
            match res {
                Ok(_) => Ok(()),
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    if status == Some(410) || is_gone(&e) {
                        Err(PostError::Gone)
                    } else {
                        Err(PostError::Other(format!(
                            "PostToConnection: {}",
                            aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e)
                        )))
                    }
                }
            }
        })
    }

    fn delete<'a>(&'a self, connection_id: &'a str) -> BoxFuture<'a, Result<(), PostError>> {
        Box::pin(async move {
            match self
                .client
                .delete_connection()
                .connection_id(connection_id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e)
                    if e.raw_response().map(|r| r.status().as_u16()) == Some(410)
                        || is_gone(&e) =>
                {
                    Err(PostError::Gone)
                }
                Err(e) => Err(PostError::Other(format!(
                    "DeleteConnection: {}",
                    aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e)
                ))),
            }
        })
    }
}
