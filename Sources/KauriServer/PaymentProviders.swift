import AsyncHTTPClient
import KauriCore
import KauriPayments
import KauriSandbox
import Logging

/// Builds the payment gateways the settings configure.
///
/// A gateway is enabled when its credentials are set. In sandbox mode every gateway whose credentials are not
/// set talks to the in-process simulators instead, with the simulators' credentials; live mode never does.
enum PaymentProviders {
    /// The gateways of `settings`; `sandbox` is the running simulator server in sandbox mode.
    static func gateways(
        _ settings: PaymentSettings, sandbox: SandboxServer?, clock: any WallClock, httpClient: HTTPClient = .shared
    ) throws -> [any PaymentGateway] {
        var gateways: [any PaymentGateway] = []
        if let key = settings.paystackSecretKey {
            gateways.append(
                PaystackGateway(
                    configuration: .init(
                        secretKey: key, baseURL: settings.paystackBaseURL ?? "https://api.paystack.co"),
                    httpClient: httpClient))
        } else if let sandbox {
            gateways.append(Self.sandboxPaystack(sandbox, httpClient: httpClient))
        }
        if let consumerKey = settings.mpesaConsumerKey {
            func required<Value>(_ value: Value?, _ setting: Setting) throws -> Value {
                guard let value else {
                    throw Server.StartupError(description: "the mpesa gateway needs \(setting.names)")
                }
                return value
            }
            gateways.append(
                DarajaGateway(
                    configuration: .init(
                        consumerKey: Secret(consumerKey),
                        consumerSecret: try required(settings.mpesaConsumerSecret, .mpesaConsumerSecret),
                        shortCode: try required(settings.mpesaShortCode, .mpesaShortCode),
                        passkey: try required(settings.mpesaPasskey, .mpesaPasskey),
                        transactionType: settings.mpesaTillNumber == nil ? .payBill : .buyGoods,
                        partyB: settings.mpesaTillNumber,
                        b2cShortCode: try required(settings.mpesaB2CShortCode, .mpesaB2CShortCode),
                        initiatorName: try required(settings.mpesaInitiatorName, .mpesaInitiatorName),
                        securityCredential: try required(settings.mpesaSecurityCredential, .mpesaSecurityCredential),
                        baseURL: settings.mpesaBaseURL ?? "https://api.safaricom.co.ke"),
                    httpClient: httpClient, clock: clock))
        } else if let sandbox {
            gateways.append(Self.sandboxDaraja(sandbox, httpClient: httpClient, clock: clock))
        }
        if let username = settings.payheroUsername {
            guard let password = settings.payheroPassword, let channel = settings.payheroChannelID else {
                throw Server.StartupError(
                    description: "the payhero gateway needs \(Setting.payheroPassword.names) and "
                        + Setting.payheroChannelID.names)
            }
            gateways.append(
                PayHeroGateway(
                    configuration: .init(
                        username: Secret(username), password: password, channelID: channel,
                        baseURL: settings.payheroBaseURL ?? "https://backend.payhero.co.ke/api/v2"),
                    httpClient: httpClient))
        } else if let sandbox {
            gateways.append(Self.sandboxPayHero(sandbox, httpClient: httpClient))
        }
        return gateways
    }

    /// Paystack against the simulator.
    static func sandboxPaystack(_ sandbox: SandboxServer, httpClient: HTTPClient) -> PaystackGateway {
        PaystackGateway(
            configuration: .init(
                secretKey: Secret(sandbox.credentials.paystackSecretKey), baseURL: sandbox.baseURL + "/paystack"),
            httpClient: httpClient)
    }

    /// Daraja against the simulator.
    static func sandboxDaraja(_ sandbox: SandboxServer, httpClient: HTTPClient, clock: any WallClock) -> DarajaGateway {
        let credentials = sandbox.credentials
        return DarajaGateway(
            configuration: .init(
                consumerKey: Secret(credentials.darajaConsumerKey),
                consumerSecret: Secret(credentials.darajaConsumerSecret), shortCode: credentials.darajaShortCode,
                passkey: Secret(credentials.darajaPasskey), b2cShortCode: credentials.darajaB2CShortCode,
                initiatorName: credentials.darajaInitiatorName,
                securityCredential: Secret(credentials.darajaSecurityCredential), baseURL: sandbox.baseURL + "/daraja"),
            httpClient: httpClient, clock: clock)
    }

    /// PayHero against the simulator.
    static func sandboxPayHero(_ sandbox: SandboxServer, httpClient: HTTPClient) -> PayHeroGateway {
        let credentials = sandbox.credentials
        return PayHeroGateway(
            configuration: .init(
                username: Secret(credentials.payheroUsername), password: Secret(credentials.payheroPassword),
                channelID: credentials.payheroChannelID, baseURL: sandbox.baseURL + "/payhero/api/v2"),
            httpClient: httpClient)
    }
}
