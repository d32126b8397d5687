import KauriHTTP

/// The API error codes of the webhook routes.
public enum WebhookErrorCodes {
    /// Every webhook code, for docs/ERRORS.md.
    public static let all: [ErrorCode] = [
        .webhookURLInvalid, .webhookURLNotAllowed, .webhookEventTypeInvalid, .webhookTooManyEventTypes,
        .webhookDescriptionTooLong, .webhookTooManyEndpoints, .webhookEndpointNotFound, .webhookDeliveryNotFound,
        .webhookDeliveryNotFailed, .webhookEndpointDisabled,
    ]
}

extension ErrorCode {
    /// The endpoint URL is not an absolute URL with a host, is too long, or carries credentials.
    public static let webhookURLInvalid = ErrorCode("webhook.url_invalid", status: 422, title: "Webhook URL invalid")
    /// The URL is not http(s), or its host is or resolves to an internal address.
    public static let webhookURLNotAllowed = ErrorCode(
        "webhook.url_not_allowed", status: 422, title: "Webhook URL not allowed")
    /// An event type is not a dotted lower-case name or `*`, or none was given.
    public static let webhookEventTypeInvalid = ErrorCode(
        "webhook.event_type_invalid", status: 422, title: "Event type invalid")
    /// More event types than `WebhookLimits.eventTypesMax`.
    public static let webhookTooManyEventTypes = ErrorCode(
        "webhook.too_many_event_types", status: 422, title: "Too many event types")
    /// The description is longer than `WebhookLimits.descriptionBytesMax`.
    public static let webhookDescriptionTooLong = ErrorCode(
        "webhook.description_too_long", status: 422, title: "Description too long")
    /// `WebhookLimits.endpointsMax` endpoints exist already.
    public static let webhookTooManyEndpoints = ErrorCode(
        "webhook.too_many_endpoints", status: 409, title: "Too many webhook endpoints")
    /// No endpoint with this id.
    public static let webhookEndpointNotFound = ErrorCode(
        "webhook.endpoint_not_found", status: 404, title: "Webhook endpoint not found")
    /// No delivery with this id.
    public static let webhookDeliveryNotFound = ErrorCode(
        "webhook.delivery_not_found", status: 404, title: "Webhook delivery not found")
    /// Only failed deliveries are replayed.
    public static let webhookDeliveryNotFailed = ErrorCode(
        "webhook.delivery_not_failed", status: 409, title: "Webhook delivery has not failed")
    /// The delivery's endpoint is disabled; enable it before replaying.
    public static let webhookEndpointDisabled = ErrorCode(
        "webhook.endpoint_disabled", status: 409, title: "Webhook endpoint disabled")
}
