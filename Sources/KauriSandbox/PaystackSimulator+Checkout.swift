import Hummingbird

/// The hosted checkout page Paystack's `authorization_url` points at: a small mobile-first HTML page, without
/// JavaScript, that shows the amount and posts `outcome=success|failed` back to itself.
extension PaystackSimulator {
    /// The amount's subunits per unit; every currency Paystack settles has two decimals.
    static let subunitsPerUnit: Int64 = 100

    /// `GET /paystack/checkout/{access_code}`: the payment form, or the result when the checkout is complete.
    func checkoutPage(accessCode: String) -> Response {
        guard let transaction = self.transaction(accessCode: accessCode) else {
            return Self.page(404, title: "Checkout not found", body: "<p>This checkout link is not valid.</p>")
        }
        let amount = SandboxHTTP.htmlEscaped(Self.displayAmount(transaction.amount, transaction.currency))
        guard transaction.status == .abandoned else {
            return Self.resultPage(transaction)
        }
        let body = """
            <p class="muted">\(SandboxHTTP.htmlEscaped(transaction.email))</p>
            <p class="amount">\(amount)</p>
            <p class="muted">Reference \(SandboxHTTP.htmlEscaped(transaction.reference))</p>
            <form method="post">
            <button class="pay" type="submit" name="outcome" value="success">Pay \(amount)</button>
            <button class="decline" type="submit" name="outcome" value="failed">Decline</button>
            </form>
            """
        return Self.page(200, title: "Pay \(amount)", body: body)
    }

    /// `POST /paystack/checkout/{access_code}` with `outcome=success|failed`: completes the transaction and
    /// redirects to the `callback_url` with `trxref` and `reference`, or shows the result when there is none.
    func submitCheckout(_ request: Request, accessCode: String) async throws -> Response {
        let body = try await SandboxHTTP.body(of: request)
        guard let transaction = self.transaction(accessCode: accessCode) else {
            return Self.page(404, title: "Checkout not found", body: "<p>This checkout link is not valid.</p>")
        }
        guard let fields = SandboxHTTP.formFields(body), let outcome = fields["outcome"],
            outcome == "success" || outcome == "failed"
        else {
            return Self.page(400, title: "Invalid choice", body: "<p>Choose Pay or Decline.</p>")
        }
        let completed = self.completeCheckout(reference: transaction.reference, succeed: outcome == "success")
        guard let completed else {
            return Self.page(404, title: "Checkout not found", body: "<p>This checkout link is not valid.</p>")
        }
        guard let callbackURL = completed.callbackURL else {
            return Self.resultPage(completed)
        }
        let reference = SandboxHTTP.queryEscaped(completed.reference)
        let separator = callbackURL.contains("?") ? "&" : "?"
        return Response(
            status: .found,
            headers: [.location: "\(callbackURL)\(separator)trxref=\(reference)&reference=\(reference)"])
    }

    private static func resultPage(_ transaction: Transaction) -> Response {
        let paid = transaction.status == .success
        let amount = SandboxHTTP.htmlEscaped(Self.displayAmount(transaction.amount, transaction.currency))
        return Self.page(
            200, title: paid ? "Payment successful" : "Payment not completed",
            body: """
                <p class="amount">\(amount)</p>
                <p>\(paid ? "Payment successful." : "Payment declined.") \
                Reference \(SandboxHTTP.htmlEscaped(transaction.reference)).</p>
                """)
    }

    /// E.g. `GHS 12.50`.
    private static func displayAmount(_ subunits: Int64, _ currency: String) -> String {
        let fraction = subunits % Self.subunitsPerUnit
        return "\(currency) \(subunits / Self.subunitsPerUnit).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    private static func page(_ status: Int, title: String, body: String) -> Response {
        let html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(SandboxHTTP.htmlEscaped(title)) · Paystack sandbox</title>
            <style>
            body{margin:0;font:16px/1.5 system-ui,sans-serif;background:#f4f6f8;color:#1d2733}
            main{max-width:26rem;margin:0 auto;padding:2rem 1.25rem}
            .badge{display:inline-block;font-size:.75rem;padding:.15rem .5rem;border-radius:1rem;background:#ffe8a3}
            .amount{font-size:2rem;font-weight:700;margin:.5rem 0}
            .muted{color:#5b6774;margin:.25rem 0}
            button{display:block;width:100%;margin-top:1rem;padding:1rem;border:0;border-radius:.5rem;font-size:1rem}
            .pay{background:#0ba360;color:#fff}
            .decline{background:#e4e7eb;color:#1d2733}
            </style>
            </head>
            <body><main>
            <span class="badge">Paystack sandbox · test mode</span>
            <h1>\(SandboxHTTP.htmlEscaped(title))</h1>
            \(body)
            </main></body>
            </html>
            """
        return SandboxHTTP.text(status, html, contentType: "text/html; charset=utf-8")
    }
}
