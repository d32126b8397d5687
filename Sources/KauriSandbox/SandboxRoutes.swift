import Hummingbird

/// Adds the SMS simulators to `router`: Hubtel `POST /v1/messages/send`, Twilio
/// `POST /2010-04-01/Accounts/{sid}/Messages.json` and Africa's Talking `POST /version1/messaging`. Each checks
/// its provider's authentication and body format and answers in its provider's wire format; accepted messages go
/// to `log`, and `faults` can make them fail.
///
/// Point an adapter's `baseURL` at the router's root to use them.
public func addSmsSimulatorRoutes<Context: RequestContext>(
    to router: Router<Context>,
    log: SandboxMessageLog,
    faults: SandboxFaults,
    credentials: SandboxCredentials = SandboxCredentials()
) {
    HubtelSimulator(log: log, faults: faults, credentials: credentials).addRoutes(to: router)
    TwilioSimulator(log: log, faults: faults, credentials: credentials).addRoutes(to: router)
    AfricasTalkingSimulator(log: log, faults: faults, credentials: credentials).addRoutes(to: router)
}

/// Adds the Resend simulator to `router`: `POST /emails`, with Bearer authentication and Resend's JSON body and
/// error format. Accepted emails go to `log`, and `faults` can make them fail.
public func addEmailSimulatorRoutes<Context: RequestContext>(
    to router: Router<Context>,
    log: SandboxMessageLog,
    faults: SandboxFaults,
    credentials: SandboxCredentials = SandboxCredentials()
) {
    ResendSimulator(log: log, faults: faults, credentials: credentials).addRoutes(to: router)
}
