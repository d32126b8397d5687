// The baseline for the platform benchmark: a bare Hummingbird 2 server with one route and no middleware,
// built with the same compiler and flags as kauri and measured in the same run.
import Hummingbird

let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 8090
let router = Router()
router.get("/healthz") { _, _ in
    #"{"status":"ok"}"#
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
