import Foundation
import KauriCore
import KauriWebhooks
import Testing

/// Standard Webhooks v1 signing: the published vector, secret format, rotation headers.
@Suite("Webhook signer")
struct WebhookSignerTests {
    /// The vector of the Standard Webhooks and Svix reference libraries' own tests.
    @Test("signs the reference libraries' known vector")
    func knownVector() throws {
        let signer = try WebhookSigner(secret: Secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let signature = signer.signature(
            messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
            payload: Array(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(
            signer.verify(
                header: "v1,bm9wZQ== " + signature, messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek",
                timestamp: 1_614_265_330, payload: Array(#"{"test": 2432232314}"#.utf8)))
        #expect(
            !signer.verify(
                header: signature, messageID: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_331,
                payload: Array(#"{"test": 2432232314}"#.utf8)))
    }

    @Test("new secrets are whsec_ and 32 random bytes, different each time")
    func secretFormat() throws {
        let first = WebhookSigner.makeSecret()
        let second = WebhookSigner.makeSecret()
        #expect(first.value.hasPrefix("whsec_"))
        #expect(try WebhookSigner.keyBytes(of: first).count == 32)
        #expect(first != second)
        #expect("\(first)" == "***")
    }

    @Test("parsing accepts 24–64 key bytes and refuses the rest")
    func secretLengths() throws {
        func secret(_ count: Int) -> Secret<String> {
            Secret("whsec_" + Data(repeating: 7, count: count).base64EncodedString())
        }
        #expect(throws: WebhookSigner.SecretError.lengthOutOfRange(23)) { try WebhookSigner(secret: secret(23)) }
        #expect(throws: WebhookSigner.SecretError.lengthOutOfRange(65)) { try WebhookSigner(secret: secret(65)) }
        _ = try WebhookSigner(secret: secret(24))
        _ = try WebhookSigner(secret: secret(64))
        #expect(throws: WebhookSigner.SecretError.missingPrefix) { try WebhookSigner(secret: Secret("abc")) }
        #expect(throws: WebhookSigner.SecretError.notBase64) { try WebhookSigner(secret: Secret("whsec_!!")) }
    }

    @Test("the rotation header holds one signature per secret, space-separated, each verifying")
    func rotationHeader() throws {
        let old = try WebhookSigner(secret: WebhookSigner.makeSecret())
        let new = try WebhookSigner(secret: WebhookSigner.makeSecret())
        let payload = Array(#"{"a":1}"#.utf8)
        let header = WebhookSigner.header(signers: [new, old], messageID: "msg_x", timestamp: 10, payload: payload)
        #expect(header.split(separator: " ").count == 2)
        #expect(old.verify(header: header, messageID: "msg_x", timestamp: 10, payload: payload))
        #expect(new.verify(header: header, messageID: "msg_x", timestamp: 10, payload: payload))
    }

    @Test("event types are dotted lower-case names")
    func eventTypes() {
        for valid in ["payment.succeeded", "refund.failed", "escrow.funds_released", "a.b.c1"] {
            #expect(WebhookEventType.isValid(valid), "\(valid)")
        }
        for invalid in ["payment", "Payment.succeeded", "payment.", ".x", "payment..x", "1x.y", "a.b-c", "*", ""] {
            #expect(!WebhookEventType.isValid(invalid), "\(invalid)")
        }
        #expect(WebhookEventType.isValidSubscription("*"))
        #expect(WebhookEventType.matches(["*"], "payment.succeeded"))
        #expect(!WebhookEventType.matches(["refund.failed"], "payment.succeeded"))
    }

    @Test("Retry-After is read as seconds or an HTTP date")
    func retryAfter() {
        let now = Timestamp(unixMilliseconds: 1_445_412_480_000)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(WebhookRetrySchedule.retryAfterMilliseconds("120", now: now) == 120_000)
        #expect(WebhookRetrySchedule.retryAfterMilliseconds("Wed, 21 Oct 2015 07:30:00 GMT", now: now) == 120_000)
        #expect(WebhookRetrySchedule.retryAfterMilliseconds("Wed, 21 Oct 2015 07:00:00 GMT", now: now) == 0)
        #expect(WebhookRetrySchedule.retryAfterMilliseconds("soon", now: now) == nil)
    }
}
