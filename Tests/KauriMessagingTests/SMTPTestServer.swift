import Foundation

/// A real SMTP server (aiosmtpd) run from `scripts/smtp_test_server.py` in a throwaway directory: STARTTLS with
/// a CA made for the run, AUTH required over TLS, every accepted message and AUTH attempt written as JSON lines.
final class SMTPTestServer {
    /// How long the script may take to generate its certificates and listen.
    static let startTimeout: Duration = .seconds(30)

    /// What the server recorded of one accepted message; the header fields are Python's email parser's reading.
    struct Message: Decodable {
        var mailFrom: String
        var rcptTos: [String]
        var raw: String
        var tls: Bool
        var authenticated: Bool
        var from: String
        var to: String
        var subject: String
        var dateValid: Bool
        var messageId: String
        var mimeVersion: String
        var contentType: String
        var charset: String?
        var transferEncoding: String
        var text: String
        var defects: [String]
    }

    /// One AUTH attempt.
    struct AuthAttempt: Decodable {
        var mechanism: String
        var success: Bool
        var tls: Bool
    }

    private struct Ready: Decodable {
        var port: Int
        var ca: String
        var username: String
        var password: String
    }

    /// The server could not be started.
    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    let port: Int
    let caPath: String
    let username: String
    let password: String
    private let directory: URL
    private let process: Process
    private let input: Pipe

    private init(
        port: Int, caPath: String, username: String, password: String, directory: URL, process: Process, input: Pipe
    ) {
        self.port = port
        self.caPath = caPath
        self.username = username
        self.password = password
        self.directory = directory
        self.process = process
        self.input = input
    }

    /// Starts a server and waits until it listens.
    /// - Parameter startTLS: `false` runs a server that offers no STARTTLS and allows AUTH in plain text.
    static func start(startTLS: Bool = true) async throws -> SMTPTestServer {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/smtp_test_server.py").path
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("kauri-smtp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logURL = directory.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, directory.path] + (startTLS ? [] : ["--no-starttls"])
        // The script stops when this pipe closes, so it cannot outlive the test process.
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = log
        process.standardError = log
        try process.run()

        let readyURL = directory.appendingPathComponent("ready.json")
        let deadline = ContinuousClock.now + self.startTimeout
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: readyURL.path),
                let ready = try? JSONDecoder().decode(Ready.self, from: data)
            {
                return SMTPTestServer(
                    port: ready.port, caPath: ready.ca, username: ready.username, password: ready.password,
                    directory: directory, process: process, input: input)
            }
            if !process.isRunning {
                let output = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
                let hint = process.terminationStatus == 3
                    ? "aiosmtpd is not installed: run `python3 -m pip install aiosmtpd`. " : ""
                throw StartError(
                    description: "\(hint)smtp_test_server.py exited with \(process.terminationStatus): \(output)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        process.waitUntilExit()
        throw StartError(description: "smtp_test_server.py did not get ready within \(self.startTimeout)")
    }

    /// The messages accepted so far, oldest first.
    func messages() throws -> [Message] {
        try self.jsonLines("messages.jsonl")
    }

    /// The AUTH attempts so far, oldest first.
    func authAttempts() throws -> [AuthAttempt] {
        try self.jsonLines("auth.jsonl")
    }

    /// Stops the server and removes its directory.
    func stop() {
        try? self.input.fileHandleForWriting.close()
        if self.process.isRunning {
            self.process.terminate()
        }
        self.process.waitUntilExit()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs `body` with a fresh server and stops it afterwards.
    static func with(startTLS: Bool = true, _ body: (SMTPTestServer) async throws -> Void) async throws {
        let server = try await Self.start(startTLS: startTLS)
        do {
            try await body(server)
        } catch {
            server.stop()
            throw error
        }
        server.stop()
    }

    private func jsonLines<Record: Decodable>(_ name: String) throws -> [Record] {
        guard let data = FileManager.default.contents(atPath: self.directory.appendingPathComponent(name).path) else {
            return []
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try decoder.decode(Record.self, from: Data($0.utf8))
        }
    }
}
