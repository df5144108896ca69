"""make bench's peer: the webhook as a Python 3 + boto3 Lambda (awslambdaric) would write it.

The same work as glase-webhook, so the two are measured side by side: route
POST /notifications/{token}, check the token against WEBHOOK_TOKEN_SHA256 in constant
time, parse {"invoiceId": N} (a positive integer, nothing else), SendMessage to QUEUE_URL
(FIFO group and deduplication ids when the queue is FIFO), answer 200 only once queued.
Everything that can be made once is made at import time, as one would for a cold start.
"""
import base64
import hashlib
import hmac
import json
import os

import boto3

QUEUE_URL = os.environ["QUEUE_URL"]
TOKEN_SHA256 = bytes.fromhex(os.environ["WEBHOOK_TOKEN_SHA256"])
FIFO = QUEUE_URL.endswith(".fifo")
MAX_BODY_BYTES = 4096
MAX_ID = 2**63 - 1
# Endpoint, region and credentials from the standard variables (AWS_ENDPOINT_URL_SQS, …).
SQS = boto3.client("sqs")


def reply(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def error(status, code, message):
    return reply(status, {"error": code, "message": message})


def _reject_constant(value):
    raise ValueError(f"not a number: {value}")


def parse_invoice_id(body):
    value = json.loads(body, parse_constant=_reject_constant)
    if not isinstance(value, dict) or set(value) != {"invoiceId"}:
        raise ValueError('expected {"invoiceId": <positive integer>}')
    invoice_id = value["invoiceId"]
    if type(invoice_id) is not int or not 0 < invoice_id <= MAX_ID:
        raise ValueError("invoiceId must be a positive integer")
    return invoice_id


def handler(event, _context):
    segments = event.get("rawPath", "").strip("/").split("/")
    if len(segments) != 2 or segments[0] != "notifications" or not segments[1]:
        return error(404, "not_found", "no such resource")
    presented = hashlib.sha256(segments[1].encode()).digest()
    if not hmac.compare_digest(presented, TOKEN_SHA256):
        return error(401, "unauthorized", "missing or wrong webhook token")
    if event.get("requestContext", {}).get("http", {}).get("method") != "POST":
        return error(405, "method_not_allowed", "use POST")
    body = event.get("body") or ""
    body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    if len(body) > MAX_BODY_BYTES:
        return error(413, "payload_too_large", f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        invoice_id = parse_invoice_id(body)
    except (ValueError, UnicodeDecodeError) as e:
        return error(400, "invalid_notification", str(e))
    message = {"QueueUrl": QUEUE_URL, "MessageBody": json.dumps({"invoiceId": invoice_id})}
    if FIFO:
        message["MessageGroupId"] = message["MessageDeduplicationId"] = str(invoice_id)
    try:
        SQS.send_message(**message)
    except Exception:  # noqa: BLE001 - any failure means "not queued": Glase retries on 503
        return error(503, "unavailable", "could not queue the notification, retry later")
    print(json.dumps({"message": "notification", "invoice_id": invoice_id, "status": 200}))
    return reply(200, {"status": "accepted", "invoiceId": invoice_id})
