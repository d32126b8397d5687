#!/usr/bin/env python3
"""Verifies one Standard Webhooks delivery with the reference libraries (PyPI `standardwebhooks` and `svix`).

Reads a JSON object from stdin: {"secret": "whsec_...", "headers": {name: value}, "body": "<raw body>"}.
Exits 0 when BOTH libraries accept the delivery, 1 when either refuses it (the reason is printed), 2 on bad input.
Both libraries also check that `webhook-timestamp` is within five minutes of now.
"""
import json
import sys


def main() -> int:
    try:
        request = json.load(sys.stdin)
        secret, headers, body = request["secret"], request["headers"], request["body"]
    except (ValueError, KeyError) as error:
        print(f"bad input: {error}", file=sys.stderr)
        return 2
    from standardwebhooks.webhooks import Webhook as StandardWebhook
    from svix.webhooks import Webhook as SvixWebhook

    failures = []
    for name, verifier in (("standardwebhooks", StandardWebhook), ("svix", SvixWebhook)):
        try:
            verifier(secret).verify(body.encode("utf-8"), dict(headers))
        except Exception as error:  # each library raises its own WebhookVerificationError
            failures.append(f"{name}: {type(error).__name__}: {error}")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
