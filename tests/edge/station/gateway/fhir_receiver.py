"""A real FHIR server stand-in for the gateway's tests, in its own process (stdlib only).

``http.server`` answering ``POST`` to any path: the body is appended to ``--out`` as one
JSON line (``path``, ``content_type``, ``body``) and flushed to disk *before* the answer
goes out, so a Bundle the gateway saw accepted is on file. Answers ``200`` with a
``transaction-response`` Bundle (one ``201 Created`` per entry); a body that is not JSON
gets ``400``. One request at a time (``HTTPServer``), as a server that keeps the order.
Prints ``ready PORT``.

    python -m tests.edge.station.gateway.fhir_receiver --port 8080 --out bundles.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                self._answer(400, {"resourceType": "OperationOutcome"})
                return
            line = {
                "path": self.path,
                "content_type": self.headers.get("Content-Type", ""),
                "body": body,
            }
            out.write(json.dumps(line) + "\n")
            out.flush()
            os.fsync(out.fileno())
            entries = body.get("entry", []) if isinstance(body, dict) else []
            self._answer(
                200,
                {
                    "resourceType": "Bundle",
                    "type": "transaction-response",
                    "entry": [{"response": {"status": "201 Created"}} for _ in entries],
                },
            )

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads --out

    server = HTTPServer(("127.0.0.1", args.port), Handler)
    print(f"ready {args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        out.close()


if __name__ == "__main__":
    sys.exit(main())
