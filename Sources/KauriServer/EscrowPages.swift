import Foundation
import Hummingbird
import KauriCore
import KauriEscrow
import KauriHTTP
import KauriPayments
import Mustache

/// The buyer's pages (origin S4), server-rendered, mobile-first and without JavaScript:
/// - `GET /pay/{id}`: a payment link's checkout: the buyer enters phone and name; `POST /pay/{id}` (a plain form)
///   opens the escrow and pushes the payment to the phone, then sends the buyer to the tracking page.
/// - `GET /track/{id}`: an escrow's status and timeline; both parties' phones are masked.
struct EscrowPages: Sendable {
    let escrows: Escrows
    let clock: any WallClock

    /// The pages' own policy: inline styles, forms posting back here, nothing else.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    /// The largest form accepted.
    static let formBytesMax = 4_096

    func addRoutes(to api: DocumentedRouter) {
        api.on(
            .get, "/pay/{id}",
            OperationDoc(
                "payPage", summary: "A payment link's hosted checkout page (HTML).", tag: "pages",
                responses: [ResponseDoc(status: 200, description: "The page.", contentType: "text/html", schema: nil)],
                errorStatuses: [404])
        ) { _, context in
            let link = try await self.link(context)
            return self.checkoutPage(link, form: nil, error: nil, status: .ok)
        }

        api.on(
            .post, "/pay/{id}",
            OperationDoc(
                "payPageSubmit",
                summary: "The checkout form: opens the escrow and asks the phone for the money, then 303 to /track.",
                tag: "pages",
                responses: [
                    ResponseDoc(status: 303, description: "To the escrow's tracking page."),
                    ResponseDoc(
                        status: 422, description: "The page again, with what to fix.", contentType: "text/html",
                        schema: nil),
                ],
                errorStatuses: [404])
        ) { request, context in
            let link = try await self.link(context)
            var body = try await request.body.collect(upTo: Self.formBytesMax)
            let text = body.readString(length: body.readableBytes) ?? ""
            guard let form = try? URLEncodedFormDecoder().decode(CheckoutForm.self, from: text) else {
                return self.checkoutPage(
                    link, form: nil, error: "Enter your phone number and name.", status: .badRequest)
            }
            do {
                let checkout = try Escrows.Checkout.fromForm(
                    phone: form.phone, name: form.name, currency: link.price.currency)
                let (escrow, _) = try await self.escrows.checkout(
                    linkID: link.id, checkout, idempotencyKey: form.key.isEmpty ? nil : form.key)
                return Response(status: .seeOther, headers: [.location: "/track/\(escrow.id)"])
            } catch let error as EscrowError {
                let problem = EscrowErrorCodes.apiError(error)
                return self.checkoutPage(
                    link, form: form, error: problem.detail ?? problem.code.title,
                    status: HTTPResponse.Status(code: problem.code.status))
            } catch let error as PaymentError {
                let problem = PaymentErrorCodes.apiError(error)
                return self.checkoutPage(
                    link, form: form, error: problem.detail ?? problem.code.title,
                    status: HTTPResponse.Status(code: problem.code.status))
            } catch let error as APIError {
                let message = error.fieldErrors.first.map { "\($0.field): \($0.message)" } ?? error.code.title
                return self.checkoutPage(link, form: form, error: message, status: .unprocessableContent)
            }
        }

        api.on(
            .get, "/track/{id}",
            OperationDoc(
                "trackPage", summary: "An escrow's status and timeline (HTML; phones masked).", tag: "pages",
                responses: [ResponseDoc(status: 200, description: "The page.", contentType: "text/html", schema: nil)],
                errorStatuses: [404])
        ) { _, context in
            guard let id = context.parameters.get("id").flatMap(Escrow.ID.init),
                let (escrow, timeline) = try await self.escrows.trackedEscrow(id)
            else { throw APIError(EscrowErrorCodes.escrowNotFound) }
            return Self.html(Self.trackTemplate.render(Self.trackView(escrow, timeline)), status: .ok)
        }
    }

    private func link(_ context: AppRequestContext) async throws -> PaymentLink {
        guard let id = context.parameters.get("id").flatMap(PaymentLink.ID.init),
            let link = try await self.escrows.link(id)
        else { throw APIError(EscrowErrorCodes.linkNotFound) }
        return link
    }

    private func checkoutPage(
        _ link: PaymentLink, form: CheckoutForm?, error: String?, status: HTTPResponse.Status
    ) -> Response {
        let now = self.clock.now()
        var closedReason: String?
        if link.status == .closed {
            closedReason = "The seller closed this link."
        } else if let expiresAt = link.expiresAt, now >= expiresAt {
            closedReason = "This link has expired."
        } else if let available = link.quantityAvailable, available <= 0 {
            closedReason = "Sold out."
        }
        let view: [String: Any] = [
            "title": link.title, "description": link.description ?? "", "price": "\(link.price)",
            "payable": closedReason == nil, "closed_reason": closedReason ?? "", "error": error ?? "",
            "phone": form?.phone ?? "", "name": form?.name ?? "",
            // One key per page view: resubmitting the same form (a double tap, a reload) opens one escrow.
            "key": form?.key ?? UUID().uuidString, "action": "/pay/\(link.id)",
        ]
        return Self.html(Self.checkoutTemplate.render(view), status: status)
    }

    static func trackView(_ escrow: Escrow, _ timeline: [EscrowTransition]) -> [String: Any] {
        [
            "title": escrow.title, "amount": "\(escrow.amount)", "id": escrow.id.description,
            "status": Self.statusLabel(escrow.status), "waiting": escrow.status == .pending,
            "buyer_phone": escrow.buyerPhone.masked, "seller_phone": escrow.sellerPhone?.masked ?? "",
            "timeline": timeline.map { step in
                ["status": Self.statusLabel(step.to), "at": step.at.rfc3339, "actor": step.actor]
            },
        ]
    }

    static func statusLabel(_ status: EscrowStatus) -> String {
        switch status {
        case .pending: "Waiting for payment"
        case .paid: "Paid — held in escrow"
        case .shipped: "Shipped"
        case .delivered: "Delivered — awaiting the buyer"
        case .completed: "Completed — released to the seller"
        case .disputed: "Disputed — money frozen"
        case .refunded: "Refunded to the buyer"
        case .cancelled: "Cancelled — payment did not complete"
        case .expired: "Expired — payment did not complete"
        }
    }

    static func html(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: Self.contentSecurityPolicy,
                .cacheControl: "no-store",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: Templates

    static let style = """
        <style>body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:28rem;margin:auto;color:#1a1a1a}
        h1{font-size:1.3rem}.price{font-size:1.6rem;font-weight:700}label{display:block;margin:.8rem 0 .2rem}
        input{width:100%;padding:.7rem;font-size:1rem;box-sizing:border-box}button{margin-top:1rem;width:100%;
        padding:.8rem;font-size:1.1rem;background:#0a7d3b;color:#fff;border:0;border-radius:.4rem}
        .error{background:#fde8e8;padding:.6rem;border-radius:.3rem}.note{color:#555;font-size:.9rem}
        ol{padding-left:1.2rem}</style>
        """

    static let checkoutTemplate: MustacheTemplate = Self.template(
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1"><title>Pay: {{title}}</title>
        \(style)</head><body>
        <h1>{{title}}</h1>{{#description}}<p>{{description}}</p>{{/description}}
        <p class="price">{{price}}</p>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{#payable}}
        <form method="post" action="{{action}}">
        <input type="hidden" name="key" value="{{key}}">
        <label for="phone">Phone number (M-Pesa / mobile money)</label>
        <input id="phone" name="phone" type="tel" autocomplete="tel" required value="{{phone}}">
        <label for="name">Your name</label>
        <input id="name" name="name" autocomplete="name" required value="{{name}}">
        <button type="submit">Pay {{price}}</button>
        </form>
        <p class="note">Your payment is held by Kauri until you confirm you received the goods.</p>
        {{/payable}}
        {{^payable}}<p class="error">{{closed_reason}}</p>{{/payable}}
        </body></html>
        """)

    static let trackTemplate: MustacheTemplate = Self.template(
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1"><title>{{title}}: {{status}}</title>
        \(style)</head><body>
        <h1>{{title}}</h1><p class="price">{{amount}}</p>
        <p><strong>{{status}}</strong></p>
        {{#waiting}}<p class="note">Approve the payment request on your phone. Reload this page to see it arrive.</p>{{/waiting}}
        <p class="note">Escrow {{id}} · buyer {{buyer_phone}}{{#seller_phone}} · seller {{seller_phone}}{{/seller_phone}}</p>
        <ol>{{#timeline}}<li>{{status}} <span class="note">({{actor}}, {{at}})</span></li>{{/timeline}}</ol>
        </body></html>
        """)

    private static func template(_ text: String) -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: text)
        } catch {
            preconditionFailure("the page templates are valid Mustache: \(error)")
        }
    }
}

/// The checkout form's fields.
struct CheckoutForm: Decodable, Sendable {
    let phone: String
    let name: String
    let key: String
}
