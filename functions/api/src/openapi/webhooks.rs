//! The document's `webhooks` section: what a tenant's endpoint receives, one entry per event
//! type, with the Standard Webhooks signature headers.

use super::*;

/// What a tenant's endpoint receives, one entry per event type: a `POST` of
/// `{type, timestamp, data}` signed the Standard Webhooks way.
pub(super) struct Webhooks;

impl Webhooks {
    /// The schema of an event type's `data`, and what the event means.
    fn data_of(event: EventType) -> (String, &'static str) {
        let post = PostView::name().into_owned();
        let connection = ConnectionView::name().into_owned();
        match event {
            EventType::PostPublished => (post, "A post went out; `linkedin_urn` names it"),
            EventType::PostFailed => (post, "A post failed for good; `last_error` says why"),
            EventType::PostDeleted => (post, "A post was deleted at LinkedIn"),
            EventType::PostEdited => (post, "LinkedIn took a published post's new text"),
            EventType::PostOutcomeResolved => (
                post,
                "A post whose outcome was unknown turned out published",
            ),
            EventType::PostScheduledMissed => (post, "A scheduled post's time was missed"),
            EventType::PostApprovalRequested => (
                post,
                "A post waits for approval (again an hour before its time)",
            ),
            EventType::PostApprovalExpired => (post, "A post's time came before its approval"),
            EventType::ConnectionConnected => (connection, "An account was connected (or again)"),
            EventType::ConnectionAttention => {
                (connection, "A connection needs its member to reconnect")
            }
            EventType::ConnectionHealthy => (connection, "A connection works again"),
            EventType::ConnectionRevoked => (connection, "A connection was disconnected"),
            EventType::ConnectionReconnectDue => {
                (connection, "A connection's member must reconnect soon")
            }
            EventType::DlqRecordCreated => (
                DlqRecord::name().into_owned(),
                "A job will not be retried: a DLQ record",
            ),
            EventType::WebhookDisabled => (
                WebhookDisabled::name().into_owned(),
                "An endpoint was disabled after 24 hours of failed deliveries",
            ),
            EventType::Ping => (
                Ping::name().into_owned(),
                "A test (POST /v1/webhooks/{id}/test)",
            ),
        }
    }

    fn delivery(event: EventType) -> PathItem {
        let (data, meaning) = Self::data_of(event);
        let payload = ObjectBuilder::new()
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([event.as_str()])),
            )
            .required("type")
            .property(
                "timestamp",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .required("timestamp")
            .property("data", Ref::from_schema_name(data))
            .required("data");
        let header = |name: &str, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(
                    ObjectBuilder::new().schema_type(SchemaType::from(Type::String)),
                ))
                .build()
        };
        let operation = OperationBuilder::new()
            .operation_id(Some(format!(
                "webhook_{}",
                event.as_str().replace('.', "_")
            )))
            .tag("webhooks")
            .summary(Some(event.as_str()))
            .description(Some(meaning))
            .parameter(header(
                "webhook-id",
                "The event's id: the same for every attempt, so receivers can drop repeats",
            ))
            .parameter(header(
                "webhook-timestamp",
                "Seconds since the epoch when this attempt was signed; refuse old ones",
            ))
            .parameter(header(
                "webhook-signature",
                "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the endpoint's secret; \
                 two, space-separated, for 24 hours after a rotation",
            ))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_of(payload.into()))
                    .required(Some(Required::True))
                    .build(),
            ))
            .responses(
                ResponsesBuilder::new()
                    .response(
                        "2XX",
                        ResponseBuilder::new().description(
                            "Received. Anything else (or no answer in time) is tried again \
                             with backoff for 24 hours",
                        ),
                    )
                    .build(),
            )
            .securities(Some(Vec::<SecurityRequirement>::new()));
        PathItemBuilder::new()
            .operation(HttpMethod::Post, operation)
            .build()
    }
}

impl utoipa::Modify for Webhooks {
    fn modify(&self, doc: &mut Document) {
        let webhooks: BTreeMap<&str, PathItem> = EventType::VARIANTS
            .iter()
            .map(|&event| (event.as_str(), Self::delivery(event)))
            .collect();
        // utoipa 5 has no field for OpenAPI 3.1's top-level `webhooks`; its extensions are
        // flattened into the document, so the section goes there.
        doc.extensions.get_or_insert_with(Default::default).insert(
            "webhooks".into(),
            serde_json::to_value(webhooks).expect("path items serialize"),
        );
    }
}
