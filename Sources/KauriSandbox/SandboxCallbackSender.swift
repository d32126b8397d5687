import AsyncHTTPClient
import Crypto
import Logging
import NIOCore

/// One callback or webhook a simulator sends: where, what, and how it is signed.
struct SandboxCallback: Sendable {
    /// The receiver's URL.
    var url: String
    /// The raw JSON body; a signature covers exactly these bytes.
    var body: [UInt8]
    /// The Paystack secret key that signs the body into `x-paystack-signature`; `nil` for unsigned callbacks.
    var paystackSigningKey: String?
    /// What it is, for the log: an event name such as `charge.success`.
    var label: String
}

/// Sends the simulators' callbacks and webhooks over HTTP with one shared client, applying the callback faults and
/// retrying failed deliveries a few times with a growing pause, as real providers do.
final class SandboxCallbackSender: Sendable {
    /// The most times one delivery is attempted.
    static let deliveryAttemptCountMax = 4
    /// The pause before the first retry; each later retry waits twice as long.
    static let retryBackoffInitial: Duration = .milliseconds(100)
    /// How long one delivery attempt may take.
    static let deliveryTimeout: TimeAmount = .seconds(5)
    /// The most bytes of a receiver's answer read (and discarded).
    static let responseByteCountMax = 64 * 1024
    /// The suffix that turns the real signing key into the wrong one for `corruptNextCallbackSignature`.
    static let corruptKeySuffix = "-not-the-secret-key"

    private let httpClient: HTTPClient
    private let faults: SandboxFaults
    private let logger: Logger

    /// A sender using `httpClient`, which it does not own.
    init(httpClient: HTTPClient, faults: SandboxFaults, logger: Logger) {
        self.httpClient = httpClient
        self.faults = faults
        self.logger = logger
    }

    /// Delivers one payment's callbacks one after another, in order unless the provider's next batch is to be
    /// reversed. Each callback consumes the provider's next callback fault: it may be dropped, duplicated or signed
    /// with a wrong key.
    func deliver(_ callbacks: [SandboxCallback], for provider: SandboxProvider) async {
        let ordered = self.faults.takeReverseCallbacks(provider) ? Array(callbacks.reversed()) : callbacks
        for callback in ordered {
            let fault = self.faults.takeCallbackFault(provider)
            if fault.drops {
                self.logger.info(
                    "sandbox dropped a callback",
                    metadata: ["gateway.name": "\(provider.rawValue)", "callback.event": "\(callback.label)"])
                continue
            }
            let signature = callback.paystackSigningKey.map { key in
                Self.paystackSignature(
                    of: callback.body, key: fault.corruptsSignature ? key + Self.corruptKeySuffix : key)
            }
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<fault.deliveryCount {
                    group.addTask {
                        await self.post(callback, signature: signature, provider: provider)
                    }
                }
            }
        }
    }

    /// The lowercase hex HMAC-SHA512 of `body` keyed with `key`, Paystack's `x-paystack-signature`.
    static func paystackSignature(of body: [UInt8], key: String) -> String {
        let code = HMAC<SHA512>.authenticationCode(for: body, using: SymmetricKey(data: Array(key.utf8)))
        return code.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Posts one callback, retrying up to `deliveryAttemptCountMax` times until the receiver answers 2xx.
    private func post(_ callback: SandboxCallback, signature: String?, provider: SandboxProvider) async {
        var backoff = Self.retryBackoffInitial
        for attempt in 1...Self.deliveryAttemptCountMax {
            let metadata: Logger.Metadata = [
                "gateway.name": "\(provider.rawValue)", "callback.event": "\(callback.label)",
                "callback.attempt": "\(attempt)",
            ]
            do {
                var request = HTTPClientRequest(url: callback.url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "User-Agent", value: "kauri-sandbox/\(provider.rawValue)")
                if let signature {
                    request.headers.add(name: "x-paystack-signature", value: signature)
                }
                request.body = .bytes(ByteBuffer(bytes: callback.body))
                let response = try await self.httpClient.execute(request, timeout: Self.deliveryTimeout)
                _ = try await response.body.collect(upTo: Self.responseByteCountMax)
                if (200..<300).contains(response.status.code) {
                    self.logger.debug("sandbox delivered a callback", metadata: metadata)
                    return
                }
                self.logger.warning(
                    "sandbox callback refused",
                    metadata: metadata.merging(["http.status": "\(response.status.code)"]) {
                        $1
                    })
            } catch {
                self.logger.warning(
                    "sandbox callback delivery failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            guard attempt < Self.deliveryAttemptCountMax, !Task.isCancelled else { return }
            do {
                try await Task.sleep(for: backoff)
            } catch {
                return
            }
            backoff *= 2
        }
    }
}
